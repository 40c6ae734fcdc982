#include "server/auth/tls_options.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/util/file_system.h"
#include "grpcpp/security/server_credentials.h"
#include "openssl/bio.h"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "openssl/ssl.h"
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
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::unique_ptr<BIO, BioFree> MemoryBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  absl::StatusOr<std::string> pem = DefaultFileSystem()->ReadFile(path);
  if (!pem.ok()) return absl::Status(pem.status().code(), absl::StrCat(flag, ": ", pem.status().message()));
  return pem;
}

// Every certificate of a PEM file, in file order; INVALID_ARGUMENT naming
// flag and file when there is none.
absl::StatusOr<std::vector<X509Ptr>> Certificates(const char* flag, const std::string& path, const std::string& pem) {
  auto bio = MemoryBio(pem);
  std::vector<X509Ptr> certificates;
  while (X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certificates.emplace_back(certificate);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  if (certificates.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": expected a PEM certificate (-----BEGIN CERTIFICATE-----), none found"));
  }
  return certificates;
}

// The files of an enabled TlsFiles, read and checked once for both ports.
struct TlsMaterial {
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;  // empty: no mutual TLS
  std::vector<X509Ptr> chain;  // the server's certificate first
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  std::vector<X509Ptr> client_cas;
};

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsFiles& files) {
  if (files.cert.empty() || files.key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS needs both --tls-cert and --tls-key (got ", files.cert.empty() ? "no" : "a", " certificate and ",
        files.key.empty() ? "no" : "a", " key", files.client_ca.empty() ? "" : ", and a --tls-client-ca", ")"));
  }
  TlsMaterial material;
  BN_ASSIGN_OR_RETURN(material.cert_pem, ReadPem("--tls-cert", files.cert));
  BN_ASSIGN_OR_RETURN(material.key_pem, ReadPem("--tls-key", files.key));
  BN_ASSIGN_OR_RETURN(material.chain, Certificates("--tls-cert", files.cert, material.cert_pem));
  auto key_bio = MemoryBio(material.key_pem);
  material.key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (material.key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key ", files.key,
                     ": expected an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----), none found"));
  }
  if (X509_check_private_key(material.chain.front().get(), material.key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key ", files.key, ": does not match the certificate in --tls-cert ", files.cert));
  }
  if (!files.client_ca.empty()) {
    BN_ASSIGN_OR_RETURN(material.client_ca_pem, ReadPem("--tls-client-ca", files.client_ca));
    BN_ASSIGN_OR_RETURN(material.client_cas, Certificates("--tls-client-ca", files.client_ca, material.client_ca_pem));
  }
  return material;
}

// OpenSSL's reason for the last failure, for a message naming what failed.
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no OpenSSL error recorded";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureServerCredentials();
  BN_ASSIGN_OR_RETURN(TlsMaterial material, LoadTlsMaterial(files));
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({std::move(material.key_pem), std::move(material.cert_pem)});
  if (!files.client_ca.empty()) {
    options.pem_root_certs = std::move(material.client_ca_pem);
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::Status ConfigureServerTlsContext(const TlsFiles& files, SSL_CTX* context) {
  BN_ASSIGN_OR_RETURN(TlsMaterial material, LoadTlsMaterial(files));
  auto failed = [](const std::string& what) {
    return absl::InternalError(absl::StrCat("TLS context: ", what, ": ", OpenSslError()));
  };
  // gRPC's floor; compression (CRIME) and renegotiation are off.
  if (SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1) return failed("minimum version TLS 1.2");
  SSL_CTX_set_options(context, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate(context, material.chain.front().get()) != 1) return failed("--tls-cert " + files.cert);
  for (size_t i = 1; i < material.chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(context, material.chain[i].get()) != 1) {
      return failed(absl::StrCat("--tls-cert ", files.cert, ", chain certificate ", i + 1));
    }
  }
  if (SSL_CTX_use_PrivateKey(context, material.key.get()) != 1 || SSL_CTX_check_private_key(context) != 1) {
    return failed("--tls-key " + files.key);
  }
  if (!files.client_ca.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(context);
    for (const X509Ptr& ca : material.client_cas) {
      if (X509_STORE_add_cert(store, ca.get()) != 1 || SSL_CTX_add_client_CA(context, ca.get()) != 1) {
        return failed("--tls-client-ca " + files.client_ca);
      }
    }
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return absl::OkStatus();
}

bool IsLoopbackListenAddress(absl::string_view listen) {
  const size_t colon = listen.rfind(':');
  const absl::string_view host = colon == absl::string_view::npos ? listen : listen.substr(0, colon);
  return host == "localhost" || host == "[::1]" || absl::StartsWith(host, "127.");
}

}  // namespace bnserve
