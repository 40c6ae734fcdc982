// Throwaway X.509 material for TLS tests, made at test time with the
// `openssl` command line: a CA, a server certificate for localhost and
// 127.0.0.1 (subjectAltName), a client certificate signed by the CA, and a
// second, unrelated CA with its own client certificate (for "signed by the
// wrong CA" cases). EC P-256 keys; valid for two days. Header-only so that
// the server tests and the bnctl end-to-end test share it.
#pragma once


#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test_util/scoped_temp_dir.h"
#include "tests/test_util/subprocess_util.h"

namespace bnserve::testing {

struct TestCerts {
  std::string dir;
  std::string ca;           // ca.pem: signs server.pem and client.pem
  std::string server_cert;  // server.pem: localhost, 127.0.0.1
  std::string server_key;
  std::string client_cert;  // client.pem: signed by ca.pem
  std::string client_key;
  std::string other_ca;           // other_ca.pem: an unrelated CA
  std::string other_client_cert;  // other_client.pem: signed by other_ca.pem
  std::string other_client_key;
  // Empty when every openssl call succeeded, else what failed and its stderr.
  std::string error;
};

inline constexpr char kOpensslBinary[] = "/usr/bin/openssl";

// Writes the files into `dir` (which must exist).
inline TestCerts MakeTestCerts(const std::string& dir) {
  TestCerts certs;
  certs.dir = dir;
  auto path = [&dir](const std::string& name) { return dir + "/" + name; };
  auto run = [&certs, &dir](std::vector<std::string> args) {
    if (!certs.error.empty()) return;
    args.insert(args.begin(), kOpensslBinary);
    const CommandOutput output = RunCommand(args, dir);
    if (output.exit_code != 0) {
      std::string command;
      for (const std::string& arg : args) command += arg + " ";
      certs.error = command + "-> exit " + std::to_string(output.exit_code) + ": " + output.err;
    }
  };
  auto make_ca = [&](const std::string& name, const std::string& cn) {
    run({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
         path(name + ".key"), "-out", path(name + ".pem"), "-days", "2", "-subj", "/CN=" + cn, "-addext",
         "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  };
  // A leaf certificate for `name`, signed by `ca`, with the extensions in
  // `extensions` (an openssl extfile body).
  auto make_leaf = [&](const std::string& name, const std::string& cn, const std::string& ca,
                       const std::string& extensions, int serial) {
    std::ofstream(path(name + ".ext")) << extensions;
    run({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
         path(name + ".key"), "-out", path(name + ".csr"), "-subj", "/CN=" + cn});
    run({"x509", "-req", "-in", path(name + ".csr"), "-CA", path(ca + ".pem"), "-CAkey", path(ca + ".key"),
         "-set_serial", std::to_string(serial), "-days", "2", "-out", path(name + ".pem"), "-extfile",
         path(name + ".ext")});
  };
  make_ca("ca", "bnserve test CA");
  make_ca("other_ca", "unrelated test CA");
  make_leaf("server", "localhost", "ca",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
            "basicConstraints=CA:FALSE\n",
            2);
  make_leaf("client", "bnserve test client", "ca", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n", 3);
  make_leaf("other_client", "stranger", "other_ca", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n", 4);
  certs.ca = path("ca.pem");
  certs.server_cert = path("server.pem");
  certs.server_key = path("server.key");
  certs.client_cert = path("client.pem");
  certs.client_key = path("client.key");
  certs.other_ca = path("other_ca.pem");
  certs.other_client_cert = path("other_client.pem");
  certs.other_client_key = path("other_client.key");
  return certs;
}


// A test suite whose tests share one set of certificates, made once per
// suite in a temporary folder (the TLS tests of the gRPC and HTTP ports).
class TestCertsSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new TestCerts(MakeTestCerts(certs_dir_.path())); }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(certs_->error.empty()) << certs_->error; }

  inline static ScopedTempDir certs_dir_;
  inline static TestCerts* certs_ = nullptr;
};

}  // namespace bnserve::testing
