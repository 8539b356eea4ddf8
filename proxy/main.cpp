// The binary's entry: the command line (cli.cpp), and the allocator's way of handing memory back.
#include "proxy/cli.hpp"
#include "proxy/worker.hpp"

#ifdef EDGE522_WITH_MIMALLOC
#include <mimalloc.h>
#endif

int main(int argc, char** argv) {
#ifdef EDGE522_WITH_MIMALLOC
    // mimalloc keeps freed pages committed and decommits them only on later heap activity, which
    // an idle worker has none of. (Its mi_collect(true) walks the whole heap, tens of milliseconds
    // at 5,000 idle connections, and did not lower RSS here.) No periodic trim then: glibc's
    // malloc_trim has nothing to trim under mimalloc (and its first call sets up glibc's never-used
    // heap: see trim_glibc in worker.cpp).
    static long const decommit_delay = mi_option_get(mi_option_decommit_delay);
    edge522::heap.trim = nullptr;
    edge522::heap.eager_return = [](bool on) noexcept {
        mi_option_set(mi_option_decommit_delay, on ? 0 : decommit_delay);
    };
#endif
    return edge522::cli_main(argc, argv);
}
