"""The bnserve.v1 wire messages and stubs, generated from proto/bnserve/v1 when the package is built."""
