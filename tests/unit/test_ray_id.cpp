#include "proxy/ray_id.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <set>

TEST_CASE("ray ids are 16 lowercase hex, a dash and the colo", "[ray]") {
    edge522::ray_id_generator g(42);
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto id = g.next("SJC");
        CHECK(std::regex_match(id, std::regex("[0-9a-f]{16}-SJC")));
        seen.insert(id);
    }
    CHECK(seen.size() == 1000);
}
