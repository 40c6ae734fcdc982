#include "server/auth/tls_options.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/util/file_system.h"
#include "grpcpp/security/server_credentials.h"
#include "openssl/bio.h"
#include "openssl/pem.h"
#include "openssl/x509.h"

namespace bnserve {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

std::unique_ptr<BIO, BioFree> MemoryBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  absl::StatusOr<std::string> pem = DefaultFileSystem()->ReadFile(path);
  if (!pem.ok()) return absl::Status(pem.status().code(), absl::StrCat(flag, ": ", pem.status().message()));
  return pem;
}

// The first certificate of a PEM file; INVALID_ARGUMENT naming flag and
// file when there is none.
absl::StatusOr<std::unique_ptr<X509, X509Free>> FirstCertificate(const char* flag, const std::string& path,
                                                                 const std::string& pem) {
  auto bio = MemoryBio(pem);
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": expected a PEM certificate (-----BEGIN CERTIFICATE-----), none found"));
  }
  return cert;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureServerCredentials();
  if (files.cert.empty() || files.key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS needs both --tls-cert and --tls-key (got ", files.cert.empty() ? "no" : "a", " certificate and ",
        files.key.empty() ? "no" : "a", " key", files.client_ca.empty() ? "" : ", and a --tls-client-ca", ")"));
  }
  BN_ASSIGN_OR_RETURN(std::string cert_pem, ReadPem("--tls-cert", files.cert));
  BN_ASSIGN_OR_RETURN(std::string key_pem, ReadPem("--tls-key", files.key));
  BN_ASSIGN_OR_RETURN(auto cert, FirstCertificate("--tls-cert", files.cert, cert_pem));
  auto key_bio = MemoryBio(key_pem);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key ", files.key,
                     ": expected an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----), none found"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key ", files.key, ": does not match the certificate in --tls-cert ", files.cert));
  }
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({std::move(key_pem), std::move(cert_pem)});
  if (!files.client_ca.empty()) {
    BN_ASSIGN_OR_RETURN(options.pem_root_certs, ReadPem("--tls-client-ca", files.client_ca));
    BN_RETURN_IF_ERROR(FirstCertificate("--tls-client-ca", files.client_ca, options.pem_root_certs).status());
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

bool IsLoopbackListenAddress(absl::string_view listen) {
  const size_t colon = listen.rfind(':');
  const absl::string_view host = colon == absl::string_view::npos ? listen : listen.substr(0, colon);
  return host == "localhost" || host == "[::1]" || absl::StartsWith(host, "127.");
}

}  // namespace bnserve
