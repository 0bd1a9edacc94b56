// The progress line's rate limit (trainer/progress.h): due() says whether update() prints now, so
// training reads its device-side losses only for the lines that are printed.
#include "trainer/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace v3d {
namespace {

std::string contents(std::FILE* f) {
  std::rewind(f);
  std::string s;
  for (int c; (c = std::fgetc(f)) != EOF;) s += static_cast<char>(c);
  return s;
}

TEST(Progress, DueMatchesWhatUpdatePrints) {
  std::FILE* f = std::tmpfile();  // not a terminal: a line at most every log_every_s
  ASSERT_NE(f, nullptr);
  Progress p("work", 10, f, 3600.0);
  EXPECT_TRUE(p.due());  // nothing printed yet
  p.update(1, "first");
  EXPECT_FALSE(p.due());
  p.update(2, "second");  // within the hour: not printed
  const std::string out = contents(f);
  EXPECT_NE(out.find("first"), std::string::npos) << out;
  EXPECT_EQ(out.find("second"), std::string::npos) << out;
  std::fclose(f);

  std::FILE* g = std::tmpfile();
  ASSERT_NE(g, nullptr);
  Progress every("work", 10, g, 0.0);
  every.update(1, "a");
  EXPECT_TRUE(every.due());
  every.update(2, "b");
  EXPECT_NE(contents(g).find("b"), std::string::npos);
  std::fclose(g);
}

}  // namespace
}  // namespace v3d
