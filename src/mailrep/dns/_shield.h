/* mailrep.dns._fastpath: the defences of a public node (mailrep/dns/_shield.c), shared with the
 * query loop in _fastpath.c. */
#ifndef MAILREP_SHIELD_H
#define MAILREP_SHIELD_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* What the loop knows of a query's zone, computed once per zone in Python
 * (mailrep.dns.shield.FastGuard.zone_info). */
typedef struct {
    int known;          /* the query is in one of the snapshot's zones */
    uint64_t acl_mask;  /* bit i: ACL rule set i applies to this zone */
    int counted;        /* query counting applies to this zone */
    int metrics_id;     /* row of the per-zone rcode counters */
} ZoneGuard;

typedef struct ShieldObject ShieldObject;
extern PyTypeObject ShieldType;

/* Pass one reply through ACL, budget, counting, RRL and metrics, as mailrep.dns.guard.Guard.filter.
 * `reply` (length rlen, room for 4096 octets) is rewritten in place; the new length, -1 to send
 * nothing, -2 with a Python error set. count_ip >= 0: the queried IPv4 address to count; else
 * `sub` (may be NULL) goes to the Python counter. */
Py_ssize_t shield_filter(ShieldObject *s, const uint8_t *client, int clen, const uint8_t *query,
                         Py_ssize_t qlen, uint8_t *reply, Py_ssize_t rlen, const ZoneGuard *zg,
                         long long count_ip, PyObject *sub, double now);

int shield_ready(PyObject *module);

#endif
