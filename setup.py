"""Only for the optional C accelerator; everything else is in pyproject.toml.

`optional=True`: without a compiler binmon installs anyway and runs the
pure-Python path (the reference the accelerator is tested against).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "binmon._speedups", ["binmon/_speedups.c"], optional=True, extra_compile_args=["-O2"]
        )
    ]
)
