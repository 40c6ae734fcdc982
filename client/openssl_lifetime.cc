#include "client/openssl_lifetime.h"

#include <openssl/crypto.h>

namespace bnserve::client {
namespace {

void KeepOpenSslBeforeAnyLibrary(int, char**, char**) { KeepOpenSslUntilProcessExit(); }

}  // namespace

// An executable's .preinit_array runs before the initializers of every
// shared library it loads. One of those initializers already initializes
// OpenSSL: Debian's libcpp-httplib (the HTTP port) calls OPENSSL_init_ssl
// when it is loaded, which would register OpenSSL's atexit cleanup before
// main() could ask for none. Any program that calls
// KeepOpenSslUntilProcessExit links this object, and so this entry.
// (ld refuses .preinit_array in a shared library; bnserve_client is only
// ever linked into executables.)
__attribute__((section(".preinit_array"), used)) static void (*const kKeepOpenSslFirst)(int, char**, char**) =
    &KeepOpenSslBeforeAnyLibrary;

bool KeepOpenSslUntilProcessExit() {
  // Only the first initialization decides whether OpenSSL registers its
  // atexit cleanup; later calls (gRPC's, cpp-httplib's) add to it without
  // changing that.
  return OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;
}

}  // namespace bnserve::client
