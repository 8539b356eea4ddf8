// Wiring only: see proxy/cli.cpp for the command line and proxy/server.cpp for the process.
#include "proxy/cli.hpp"

int main(int argc, char** argv) { return edge522::cli_main(argc, argv); }
