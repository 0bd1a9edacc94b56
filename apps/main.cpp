// The v3d command (apps/cli.h).
#include "apps/cli.h"

int main(int argc, char** argv) { return v3d::apps::run_cli(argc, argv); }
