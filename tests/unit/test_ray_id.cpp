#include "proxy/ray_id.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <set>

TEST_CASE("ray ids are 16 lowercase hex, a dash and the colo", "[ray]") {
    edge522::ray_id_generator g(42);
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        std::string const id(g.next("SJC").view());
        CHECK(std::regex_match(id, std::regex("[0-9a-f]{16}-SJC")));
        seen.insert(id);
    }
    CHECK(seen.size() == 1000);
}

TEST_CASE("a ray id is held in place and a colo past its room is cut", "[ray]") {
    edge522::ray_id_generator g(7);
    CHECK(g.next("LHR").view().size() == 20);
    auto const long_colo = g.next("ABCDEFGHIJ");
    CHECK(long_colo.view().size() == 16 + 1 + edge522::ray_id::max_colo);
    CHECK(long_colo.view().substr(16) == "-ABCDEFG");
    CHECK(edge522::ray_id{}.view().empty());
}
