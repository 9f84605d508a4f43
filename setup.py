"""The one thing pyproject.toml cannot say: the optional C fast path of the DNS server.

optional=True: without a compiler the install still succeeds and mailrep.dns.fastpath falls
back to the pure-Python answers (it logs that it did).
"""

from setuptools import Extension, setup

# -ffp-contract=off: the RRL token arithmetic must round as Python's floats do (no fused
# multiply-add), so the C and Python rate limiters decide alike (tests/dns/test_shield_parity.py)
setup(ext_modules=[Extension("mailrep.dns._fastpath",
                             ["src/mailrep/dns/_fastpath.c", "src/mailrep/dns/_shield.c"],
                             depends=["src/mailrep/dns/_shield.h"], optional=True,
                             extra_compile_args=["-O2", "-ffp-contract=off", "-Wall", "-Wextra",
                                                 "-Wno-missing-field-initializers"])])
