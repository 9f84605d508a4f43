"""mailrep: an open-source e-mail reputation clearinghouse.

Data flows one way: message -> trace -> intake -> store -> policy -> zones -> dns.
"""

__version__ = "0.1.0"
