// v3d_config_docs: regenerates the key tables of docs/config.md from the config's field table
// (trainer/config.cpp), between its markers kConfigDocsBegin and kConfigDocsEnd.
//   v3d_config_docs docs/config.md    rewrites the file
//   v3d_config_docs                   prints the tables
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "kernels/common.h"
#include "trainer/config.h"

int main(int argc, char** argv) {
  using namespace v3d;
  const std::string tables = config_reference_markdown();
  if (argc < 2) {
    std::fputs(tables.c_str(), stdout);
    return 0;
  }
  try {
    const std::string path = argv[1];
    std::ifstream in(path);
    V3D_REQUIRE(in, path << ": cannot open");
    std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t b = doc.find(kConfigDocsBegin);
    const size_t e = doc.find(kConfigDocsEnd);
    V3D_REQUIRE(b != std::string::npos && e != std::string::npos && b < e,
                path << ": no generated-tables markers (" << kConfigDocsBegin << ")");
    const size_t from = b + std::string(kConfigDocsBegin).size();
    doc = doc.substr(0, from) + "\n" + tables + "\n" + doc.substr(e);
    std::ofstream out(path, std::ios::trunc);
    out << doc;
    V3D_REQUIRE(out.good(), path << ": cannot write");
  } catch (const Error& err) {
    std::fprintf(stderr, "v3d_config_docs: %s\n", err.what());
    return 1;
  }
  return 0;
}
