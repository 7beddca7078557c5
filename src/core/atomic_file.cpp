#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace spf {

namespace {
void write_all(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    SPF_CHECK(w > 0, path, ": write failed: ", std::strerror(errno));
    p += w;
    n -= size_t(w);
  }
}
}  // namespace

std::string atomic_target(const std::string& path) {
  namespace fs = std::filesystem;
  SPF_CHECK(!path.empty(), "output path is empty");
  // A symlink is written through: its target is replaced and the link stays. (A missing path is
  // no link: symlink_status then reports not-found, which is fine.)
  std::error_code ec;
  fs::path target = path;
  if (fs::is_symlink(fs::symlink_status(path, ec))) {
    target = fs::weakly_canonical(path, ec);
    SPF_CHECK(!ec, path, ": cannot resolve the link: ", ec.message());
  }
  const fs::file_status st = fs::status(target, ec);
  if (fs::exists(st)) {
    SPF_CHECK(fs::is_regular_file(st), path,
              ": exists and is not a regular file (a directory, device, FIFO or socket); refusing "
              "to replace it");
  }
  return target.string();
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  const std::string target = atomic_target(path);
  const std::string tmp = cat(target, ".tmp.", ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  SPF_CHECK(fd >= 0, path, ": cannot create a file in its folder: ", std::strerror(errno));
  try {
    write_all(fd, bytes.data(), bytes.size(), path);
    SPF_CHECK(::fsync(fd) == 0, path, ": fsync failed: ", std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path, ": cannot move the written file into place: ", std::strerror(err));
  }
}

void append_line_durable(const std::string& path, std::string_view line) {
  SPF_CHECK(!path.empty(), "output path is empty");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  SPF_CHECK(fd >= 0, path, ": cannot open for append: ", std::strerror(errno));
  std::string buf(line);
  buf.push_back('\n');
  try {
    write_all(fd, buf.data(), buf.size(), path);
    ::fsync(fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

void check_appendable(const std::string& path) {
  namespace fs = std::filesystem;
  SPF_CHECK(!path.empty(), "output path is empty");
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (fs::exists(st)) {
    SPF_CHECK(fs::is_regular_file(st), path,
              ": exists and is not a regular file (a directory, device, FIFO or socket)");
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    SPF_CHECK(fd >= 0, path, ": cannot open for append: ", std::strerror(errno));
    ::close(fd);
    return;
  }
  const fs::path dir = fs::path(path).has_parent_path() ? fs::path(path).parent_path() : ".";
  SPF_CHECK(fs::is_directory(dir, ec), path, ": folder ", dir.string(), " does not exist");
  SPF_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, path, ": cannot create files in ",
            dir.string(), ": ", std::strerror(errno));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SPF_CHECK(in.good(), path, ": cannot open: ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace spf
