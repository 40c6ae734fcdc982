// Linked into the test binaries that make or take TLS connections in process
// (tests/server/, tests/client/): OpenSSL's global state stays until the
// process is gone, as in bnserve and bnctl (client/openssl_lifetime.h says
// why). A static initializer, so that it runs before gtest's main() and
// before any test touches OpenSSL.
#include "client/openssl_lifetime.h"

namespace {

[[maybe_unused]] const bool kOpenSslKeptUntilExit = bnserve::client::KeepOpenSslUntilProcessExit();

}  // namespace
