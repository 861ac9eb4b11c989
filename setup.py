"""Everything is declared in pyproject.toml; this file only ships `llmfit_guard.pth`.

The `.pth` start-up hook lets `LLMFIT_GUARD=warn|block python script.py` guard a plain script's downloads
(llmfit_core.guard.startup). Python runs it at every start-up, so it is one cheap line: it reads one
environment variable and does nothing else unless LLMFIT_GUARD is set. setuptools has no declarative way
to put a file at the top of site-packages, so build_py copies it there: into build_lib for a wheel, into
the editable wheel's root for `pip install -e .`.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "llmfit_guard.pth"


class BuildPyWithPth(build_py):
    def run(self):
        super().run()
        source = os.path.join(os.path.dirname(os.path.abspath(__file__)), PTH)
        if getattr(self, "editable_mode", False):  # editable_wheel: install_lib is the unpacked wheel's root
            target_dir = self.get_finalized_command("install").install_lib
        else:
            target_dir = self.build_lib
        self.copy_file(source, os.path.join(target_dir, PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if not getattr(self, "editable_mode", False):
            outputs.append(os.path.join(self.build_lib, PTH))
        return outputs


setup(cmdclass={"build_py": BuildPyWithPth})
