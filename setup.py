"""One build step pyproject.toml cannot say: the wheel's copy of `init`'s integration snippet.

integration/ (run_inference.py, model.yaml, app.yaml, .env.example) is the only source of the
snippet. A build copies those files into the built package's scaffold templates, where an
installed `foundry-goldens init` reads them; an sdist carries them so that a wheel built from it
can do the same. A checkout or an editable install reads integration/ itself (see
foundry_goldens/scaffold/__init__.py). Everything else is configured in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path("integration")
# The same names as foundry_goldens/scaffold INTEGRATION_FILES (tests/test_init.py): a list,
# not the directory, so that a developer's integration/.env never ships.
INTEGRATION_FILES = ("run_inference.py", "model.yaml", "app.yaml", ".env.example")
PACKAGED = Path("foundry_goldens", "scaffold", "templates", "integration")


class BuildPyWithIntegration(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads integration/ where it is
        for source, target in self._integration_files():
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs += [str(target) for _, target in self._integration_files()]
        return outputs

    def get_source_files(self) -> list[str]:
        # What `sdist` collects from build_py: the package's files, and these.
        return [*super().get_source_files(), *(str(SOURCE / name) for name in INTEGRATION_FILES)]

    def _integration_files(self) -> list[tuple[Path, Path]]:
        return [
            (SOURCE / name, Path(self.build_lib) / PACKAGED / name) for name in INTEGRATION_FILES
        ]


setup(cmdclass={"build_py": BuildPyWithIntegration})
