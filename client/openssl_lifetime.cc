#include "client/openssl_lifetime.h"

#include <openssl/crypto.h>

namespace bnserve::client {

bool KeepOpenSslUntilProcessExit() {
  // Only the first initialization decides whether OpenSSL registers its
  // atexit cleanup; later calls (gRPC's) add to it without changing that.
  return OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;
}

}  // namespace bnserve::client
