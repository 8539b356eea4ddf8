#pragma once
// The command line (SPEC section 2): serve, check, demo, probe, tarpit, fault. Control path: every error is one clear message
// and a non-zero exit code.

namespace edge522 {

int cli_main(int argc, char** argv);

} // namespace edge522
