"""A tqdm progress bar for long streams, only when tqdm is installed and someone watches (a terminal on
stderr, or a notebook)."""
import sys


def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass


def progress_bar(enabled, total, description):
    """enabled: True, False, or None = automatic (terminal or notebook)."""
    if enabled is False:
        return _NoBar()
    try:
        if _in_notebook():
            from tqdm.notebook import tqdm
        else:
            from tqdm import tqdm
    except ImportError:
        return _NoBar()
    if enabled is None and not (_in_notebook() or sys.stderr.isatty()):
        return _NoBar()
    return tqdm(total=total, desc=description, unit="batch")
