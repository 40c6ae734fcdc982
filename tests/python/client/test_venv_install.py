"""`pip install ./python` into a fresh venv made from Debian's python3 (--system-site-packages, offline,
--no-build-isolation), then the example script replays the README's sensor-shift session with it."""
import os
import re
import subprocess
import sys

from conftest import PIP_ENV, copy_checkout


def test_pip_install_into_fresh_venv_then_example(server, data, tmp_path):
    package = copy_checkout(str(tmp_path / "checkout"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-build-isolation", package], check=True,
                   env=PIP_ENV)
    where = subprocess.run([python, "-c", "import bnserve, bnserve.v1.bnserve_service_pb2_grpc as s; "
                            "print(bnserve.__file__); print(s.__file__)"],
                           check=True, capture_output=True, text=True, cwd=str(tmp_path)).stdout.split()
    assert all(path.startswith(str(venv)) for path in where), where  # installed, stubs generated

    done = subprocess.run([python, os.path.join(package, "examples", "sensor_shift.py"), "--server", server.address,
                           "--data", data["folder"]], capture_output=True, text=True, cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    accuracies = [float(a) for a in re.findall(r"accuracy (\d\.\d+)", done.stdout)]
    # clean, shifted (frozen), shifted (recalibrated), shifted (rolled back): the README's numbers
    assert accuracies == [0.985, 0.1267, 0.9867, 0.1267], done.stdout
