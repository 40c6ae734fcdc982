"""Generates the bnserve.v1 gRPC stubs from the repository's proto/ while building, so the package never
carries hand-copied or committed stubs. The protos are read from $BNSERVE_PROTO_DIR, else from ../proto
(pip builds a local directory in place since pip 21.3). Everything else lives in pyproject.toml."""
import glob
import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def proto_dir():
    directory = os.environ.get("BNSERVE_PROTO_DIR") or os.path.join(HERE, os.pardir, "proto")
    if not glob.glob(os.path.join(directory, "bnserve", "v1", "*.proto")):
        sys.exit("bnserve: no bnserve/v1/*.proto under %s; build from the repository checkout or set "
                 "BNSERVE_PROTO_DIR" % os.path.abspath(directory))
    return directory


class BuildWithStubs(build_py):
    """build_py, then grpc_tools.protoc into the build tree: bnserve/v1/*_pb2.py and *_pb2_grpc.py (their
    imports read `from bnserve.v1 import ...`, which is this package)."""

    def run(self):
        super().run()
        source = proto_dir()
        protos = sorted(os.path.relpath(p, source) for p in glob.glob(os.path.join(source, "bnserve", "v1", "*.proto")))
        out = os.path.abspath(self.build_lib)
        os.makedirs(os.path.join(out, "bnserve", "v1"), exist_ok=True)
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + source, "--python_out=" + out,
                        "--grpc_python_out=" + out] + protos, check=True)


setup(cmdclass={"build_py": BuildWithStubs})
