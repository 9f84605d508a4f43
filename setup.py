"""The one thing pyproject.toml cannot say: the optional C fast path of the DNS server.

optional=True: without a compiler the install still succeeds and mailrep.dns.fastpath falls
back to the pure-Python answers (it logs that it did).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("mailrep.dns._fastpath", ["src/mailrep/dns/_fastpath.c"],
                             optional=True, extra_compile_args=["-O2"])])
