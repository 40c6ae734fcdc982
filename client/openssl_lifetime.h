#ifndef BNSERVE_CLIENT_OPENSSL_LIFETIME_H_
#define BNSERVE_CLIENT_OPENSSL_LIFETIME_H_

namespace bnserve::client {

// Keeps OpenSSL's global state alive until the process is gone, instead of
// letting OpenSSL free it from an atexit handler. Call it first in main() of
// every program that makes or takes TLS connections through gRPC (bnctl,
// bnserve, the test binaries): the call also links in an entry of the
// executable's .preinit_array that makes the same call before any shared
// library's initializer runs (libcpp-httplib's initializes OpenSSL; see the
// .cc). Returns false when OpenSSL failed to initialize; its first use will
// then report its own error.
//
// Why: gRPC finishes tearing a channel down, and shuts itself down, on its
// own threads, and those can outlive main(): a subchannel waiting out its
// reconnect backoff (up to two minutes; "localhost" whose ::1 address refuses
// the connection is one) holds the library until its timer fires. A TLS
// handshake gave those threads OpenSSL per-thread state (their random
// generators). When OpenSSL's atexit cleanup ran under them, that state was
// orphaned - LeakSanitizer reported it (EVP_RAND_CTX_new under
// RAND_get0_public/RAND_get0_private) - and a thread that ended after the
// cleanup could crash in OpenSSL's thread-exit handler. Waiting for gRPC at
// exit instead would cost a CLI up to that backoff.
bool KeepOpenSslUntilProcessExit();

}  // namespace bnserve::client

#endif  // BNSERVE_CLIENT_OPENSSL_LIFETIME_H_
