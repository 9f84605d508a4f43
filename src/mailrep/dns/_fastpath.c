/* mailrep.dns._fastpath: the common DNSBL query answered in C, and the UDP batch loop.
 *
 * A Table holds, per IPv4 zone, what mailrep.zones.ip4set.Ip4Set answers from: the sorted
 * uint32 /32 keys (+ per-entry value indexes or one shared index, + the first-16-bits index),
 * the flattened shorter-prefix intervals, the value table (A values, TXT template segments,
 * TTL) and the negative-answer SOA record for each place the apex can sit in the reply. The
 * buffers are the Python arrays themselves (no copy); the Table keeps them alive.
 *
 * Table.answer(query) -> bytes, or None when the query is not one this module answers (then
 * mailrep.dns.answer gives the reply). Handled: opcode QUERY, QDCOUNT 1, no AN/NS records, at
 * most the usual empty OPT record (version 0), class IN, type A or TXT, exactly four labels of
 * 1-3 octets followed by a zone origin. Everything else, and every case whose bytes depend on
 * more than this, is handed back, so the replies equal the Python path byte for byte
 * (tests/dns/test_fastpath_parity.py).
 *
 * serve(fd, state, failed, stopping, batch) runs recvmmsg -> answer -> sendmmsg with the GIL
 * released during the two system calls; queries the Table hands back go to the Python
 * responder. See mailrep/dns/fastpath.py.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include "_shield.h"

enum { HEADER_LEN = 12, UDP_CLASSIC = 512, UDP_SERVER_MAX = 1232, SLOT = 4096, NAME_MAX_LEN = 128,
       T_A = 1, T_TXT = 16, T_OPT = 41, C_IN = 1, R_NOERROR = 0, R_NXDOMAIN = 3,
       F_QR_HI = 0x80, F_AA_HI = 0x04, F_TC_HI = 0x02, F_RD_HI = 0x01, F_CD_LO = 0x10,
       OPCODE_HI = 0x78, APEX_MIN = HEADER_LEN + 8, APEX_MAX = HEADER_LEN + 16,
       NEG_SLOTS = APEX_MAX - APEX_MIN + 1, OPT_LEN = 11, MAX_TXT_STRING = 255 };

typedef struct {
    int usable;             /* 0: answering this value needs Python (hand the query back) */
    uint32_t ttl;
    Py_ssize_t na;          /* number of A values */
    const uint8_t *a;       /* na * 4 octets */
    int has_txt;
    Py_ssize_t nseg;
    const uint8_t **seg;
    Py_ssize_t *seglen;
} Value;

typedef struct {
    uint8_t *origin;        /* lowercase wire form, with the root octet */
    Py_ssize_t origin_len;
    Py_buffer addrs, idx, ix, starts, svals;
    Py_ssize_t naddrs, nstarts;
    int idx_size, svals_size, has_addrs, has_idx, has_ix, has_starts, has_svals;
    int misses_to_python;   /* 1: an unlisted name may still exist in another dataset (Mixed) */
    uint32_t single;
    const uint8_t *neg[NEG_SLOTS];
    Py_ssize_t neg_len[NEG_SLOTS];
    Py_ssize_t nvalues;
    Value *values;
    ZoneGuard guard;        /* what the Shield needs to know of this zone */
} Zone;

typedef struct {
    PyObject_HEAD
    Py_ssize_t nzones;
    Zone *zones;
    PyObject *keep;          /* the spec, holding every bytes object pointed into */
    unsigned long long answered, handed;
} Table;

static PyTypeObject TableType;

static inline uint32_t item(const Py_buffer *b, int size, Py_ssize_t i)
{
    const uint8_t *p = (const uint8_t *)b->buf;
    switch (size) {
    case 1: return p[i];
    case 2: return ((const uint16_t *)p)[i];
    case 4: return ((const uint32_t *)p)[i];
    default: return ((const uint64_t *)p)[i] & 0xFFFFFFFFu;
    }
}

/* ---- building a Table ----------------------------------------------------------------- */

static int get_buffer(PyObject *obj, Py_buffer *view, int *present, int *size, Py_ssize_t *count)
{
    *present = 0;
    if (obj == Py_None)
        return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    *present = 1;
    if (view->itemsize != 1 && view->itemsize != 2 && view->itemsize != 4 && view->itemsize != 8) {
        PyErr_SetString(PyExc_ValueError, "unsupported item size");
        return -1;
    }
    if (size)
        *size = (int)view->itemsize;
    if (count)
        *count = view->len / view->itemsize;
    return 0;
}

static int build_value(PyObject *spec, Value *v)
{
    /* None, or (a: bytes of 4*k octets, txt: tuple of bytes | None, ttl: int) */
    memset(v, 0, sizeof(*v));
    if (spec == Py_None)
        return 0;
    PyObject *a, *txt, *ttl;
    if (!PyArg_ParseTuple(spec, "SOO", &a, &txt, &ttl))
        return -1;
    unsigned long long t = PyLong_AsUnsignedLongLong(ttl);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;  /* not a 32-bit TTL: Python decides what that answers */
    }
    if (t > 0xFFFFFFFFull || PyBytes_GET_SIZE(a) % 4)
        return 0;
    v->ttl = (uint32_t)t;
    v->na = PyBytes_GET_SIZE(a) / 4;
    v->a = (const uint8_t *)PyBytes_AS_STRING(a);
    if (txt != Py_None) {
        if (!PyTuple_Check(txt) || PyTuple_GET_SIZE(txt) < 1) {
            PyErr_SetString(PyExc_TypeError, "txt must be a non-empty tuple of bytes");
            return -1;
        }
        v->has_txt = 1;
        v->nseg = PyTuple_GET_SIZE(txt);
        v->seg = PyMem_Calloc((size_t)v->nseg, sizeof(*v->seg));
        v->seglen = PyMem_Calloc((size_t)v->nseg, sizeof(*v->seglen));
        if (!v->seg || !v->seglen) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < v->nseg; i++) {
            PyObject *s = PyTuple_GET_ITEM(txt, i);
            if (!PyBytes_Check(s)) {
                PyErr_SetString(PyExc_TypeError, "txt segments must be bytes");
                return -1;
            }
            v->seg[i] = (const uint8_t *)PyBytes_AS_STRING(s);
            v->seglen[i] = PyBytes_GET_SIZE(s);
        }
    }
    v->usable = 1;
    return 0;
}

static int build_zone(PyObject *spec, Zone *z)
{
    /* (origin, addrs, idx, single, ix, starts, svals, neg: tuple of 9 bytes, values: tuple
     *  [, misses_to_python: bool [, acl_mask, counted, metrics_id]]) */
    PyObject *origin, *addrs, *idx, *ix, *starts, *svals, *neg, *values;
    unsigned long single;
    unsigned long long acl_mask = 0;
    int misses = 0;
    z->guard.known = 1;
    if (!PyArg_ParseTuple(spec, "SOOkOOOO!O!|pKpi", &origin, &addrs, &idx, &single, &ix, &starts,
                          &svals, &PyTuple_Type, &neg, &PyTuple_Type, &values, &misses, &acl_mask,
                          &z->guard.counted, &z->guard.metrics_id))
        return -1;
    z->guard.acl_mask = acl_mask;
    z->misses_to_python = misses;
    z->origin_len = PyBytes_GET_SIZE(origin);
    z->origin = (uint8_t *)PyBytes_AS_STRING(origin);
    z->single = (uint32_t)single;
    int size = 0;
    if (get_buffer(addrs, &z->addrs, &z->has_addrs, &size, &z->naddrs) < 0)
        return -1;
    if (z->has_addrs && size != 4) {
        PyErr_SetString(PyExc_ValueError, "addresses must be 32-bit");
        return -1;
    }
    Py_ssize_t nidx = 0, nix = 0, nsv = 0;
    if (get_buffer(idx, &z->idx, &z->has_idx, &z->idx_size, &nidx) < 0)
        return -1;
    if (get_buffer(ix, &z->ix, &z->has_ix, &size, &nix) < 0)
        return -1;
    if (z->has_ix && (size != 4 || nix != 0x10001)) {
        PyErr_SetString(PyExc_ValueError, "index16 must be 65537 32-bit offsets");
        return -1;
    }
    if (get_buffer(starts, &z->starts, &z->has_starts, &size, &z->nstarts) < 0)
        return -1;
    if (z->has_starts && size != 4) {
        PyErr_SetString(PyExc_ValueError, "interval starts must be 32-bit");
        return -1;
    }
    if (get_buffer(svals, &z->svals, &z->has_svals, &z->svals_size, &nsv) < 0)
        return -1;
    if ((z->has_idx && nidx != z->naddrs) || (z->has_starts && (!z->has_svals || nsv != z->nstarts))) {
        PyErr_SetString(PyExc_ValueError, "parallel arrays differ in length");
        return -1;
    }
    if (PyTuple_GET_SIZE(neg) != NEG_SLOTS) {
        PyErr_SetString(PyExc_ValueError, "neg must hold one SOA record per apex offset 20..28");
        return -1;
    }
    for (int i = 0; i < NEG_SLOTS; i++) {
        PyObject *b = PyTuple_GET_ITEM(neg, i);
        if (!PyBytes_Check(b)) {
            PyErr_SetString(PyExc_TypeError, "neg records must be bytes");
            return -1;
        }
        z->neg[i] = (const uint8_t *)PyBytes_AS_STRING(b);
        z->neg_len[i] = PyBytes_GET_SIZE(b);
    }
    z->nvalues = PyTuple_GET_SIZE(values);
    z->values = PyMem_Calloc((size_t)z->nvalues + 1, sizeof(Value));
    if (!z->values) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < z->nvalues; i++)
        if (build_value(PyTuple_GET_ITEM(values, i), &z->values[i]) < 0)
            return -1;
    return 0;
}

static void free_zones(Table *t)
{
    for (Py_ssize_t i = 0; t->zones && i < t->nzones; i++) {
        Zone *z = &t->zones[i];
        Py_buffer *bufs[] = {&z->addrs, &z->idx, &z->ix, &z->starts, &z->svals};
        for (size_t j = 0; j < sizeof(bufs) / sizeof(bufs[0]); j++)
            if (bufs[j]->obj)
                PyBuffer_Release(bufs[j]);
        for (Py_ssize_t j = 0; z->values && j < z->nvalues; j++) {
            PyMem_Free(z->values[j].seg);
            PyMem_Free(z->values[j].seglen);
        }
        PyMem_Free(z->values);
    }
    PyMem_Free(t->zones);
    t->zones = NULL;
    t->nzones = 0;
}

static int Table_init(Table *self, PyObject *args, PyObject *kw)
{
    PyObject *zones;
    static char *names[] = {"zones", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!", names, &PyTuple_Type, &zones))
        return -1;
    free_zones(self);
    Py_XSETREF(self->keep, Py_NewRef(zones));
    self->nzones = PyTuple_GET_SIZE(zones);
    self->zones = PyMem_Calloc((size_t)self->nzones + 1, sizeof(Zone));
    if (!self->zones) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < self->nzones; i++)
        if (build_zone(PyTuple_GET_ITEM(zones, i), &self->zones[i]) < 0)
            return -1;
    return 0;
}

static void Table_dealloc(Table *self)
{
    free_zones(self);
    Py_XDECREF(self->keep);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- answering ------------------------------------------------------------------------ */

static inline uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

/* A label as rbldnsd/ip4set reads an octet: canonical decimal 0..255; -1 otherwise. */
static inline int octet(const uint8_t *p, int n)
{
    int v = 0;
    if (n > 1 && p[0] == '0')
        return -1;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v <= 255 ? v : -1;
}

/* The value index for address q, as Ip4Set._find: -1 / 0 mean not listed. */
static long find(const Zone *z, uint32_t q)
{
    if (z->has_addrs) {
        const uint32_t *a = (const uint32_t *)z->addrs.buf;
        Py_ssize_t lo = 0, hi = z->naddrs;
        if (z->has_ix) {
            const uint32_t *ix = (const uint32_t *)z->ix.buf;
            lo = ix[q >> 16];
            hi = ix[(q >> 16) + 1];
        }
        Py_ssize_t end = hi;
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            if (a[mid] < q)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo != end && a[lo] == q)
            return z->has_idx ? (long)item(&z->idx, z->idx_size, lo) : (long)z->single;
    }
    if (z->has_starts && z->nstarts) {
        const uint32_t *s = (const uint32_t *)z->starts.buf;
        Py_ssize_t lo = 0, hi = z->nstarts;
        while (lo < hi) {  /* bisect_right */
            Py_ssize_t mid = lo + (hi - lo) / 2;
            if (q < s[mid])
                hi = mid;
            else
                lo = mid + 1;
        }
        return lo ? (long)item(&z->svals, z->svals_size, lo - 1) : -1;
    }
    return -1;
}

static inline uint8_t *put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; return p + 2; }
static inline uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
    return p + 4;
}
static inline uint8_t *rr_head(uint8_t *p, unsigned type, uint32_t ttl, unsigned rdlen)
{
    p = put16(p, 0xC00C);  /* owner: pointer to the question name */
    p = put16(p, type);
    p = put16(p, C_IN);
    p = put32(p, ttl);
    return put16(p, rdlen);
}

/* The reply to q (length n) written to out (at least SLOT octets); its length, or -1 to hand
 * the query to Python. */
static Py_ssize_t answer(const Table *t, const uint8_t *q, Py_ssize_t n, uint8_t *out,
                         const Zone **zone, long long *queried)
{
    if (n < HEADER_LEN + 1 || (q[2] & (F_QR_HI | OPCODE_HI)))
        return -1;
    if (q[4] || q[5] != 1 || q[6] || q[7] || q[8] || q[9] || q[10] || q[11] > 1)
        return -1;
    int ar = q[11];
    Py_ssize_t pos = HEADER_LEN;
    int oct[4];
    for (int i = 0; i < 4; i++) {
        if (pos >= n)
            return -1;
        int len = q[pos];
        if (len < 1 || len > 3 || pos + 1 + len > n)
            return -1;
        oct[i] = octet(q + pos + 1, len);
        pos += 1 + len;
    }
    const Zone *z = NULL;
    for (Py_ssize_t i = 0; i < t->nzones; i++) {
        const Zone *c = &t->zones[i];
        if (pos + c->origin_len + 4 > n)
            continue;
        Py_ssize_t j = 0;
        while (j < c->origin_len && lower(q[pos + j]) == c->origin[j])
            j++;
        if (j == c->origin_len) {
            z = c;
            break;
        }
    }
    if (!z)
        return -1;
    Py_ssize_t apex = pos, root = pos + z->origin_len - 1;
    if (root > HEADER_LEN + 254)
        return -1;
    Py_ssize_t qend = root + 5;
    unsigned qtype = (unsigned)q[root + 1] << 8 | q[root + 2];
    unsigned qclass = (unsigned)q[root + 3] << 8 | q[root + 4];
    if (qclass != C_IN || (qtype != T_A && qtype != T_TXT))
        return -1;
    int edns = 0, dnssec_ok = 0;
    Py_ssize_t limit = UDP_CLASSIC;
    if (ar == 0) {
        if (n != qend)
            return -1;
    } else {
        const uint8_t *o = q + qend;
        if (n != qend + OPT_LEN || o[0] || o[1] || o[2] != T_OPT || o[6] || o[9] || o[10])
            return -1;
        unsigned payload = (unsigned)o[3] << 8 | o[4];
        edns = 1;
        dnssec_ok = o[7] & 0x80;
        limit = payload < UDP_CLASSIC ? UDP_CLASSIC : payload > UDP_SERVER_MAX ? UDP_SERVER_MAX : payload;
    }
    long vi = -1;
    *zone = z;
    *queried = -1;
    if (oct[0] >= 0 && oct[1] >= 0 && oct[2] >= 0 && oct[3] >= 0) {
        uint32_t addr = (uint32_t)oct[3] << 24 | (uint32_t)oct[2] << 16 | (uint32_t)oct[1] << 8 | (uint32_t)oct[0];
        *queried = addr;
        vi = find(z, addr);
    }
    int rcode = R_NOERROR, an = 0, ns = 0;
    Py_ssize_t body = 0, textlen = 0, keylen = 0;
    const Value *v = NULL;
    char key[16];
    if (vi <= 0) {
        if (z->misses_to_python)
            return -1;
        rcode = R_NXDOMAIN;
    } else {
        if (vi >= z->nvalues || !z->values[vi].usable)
            return -1;
        v = &z->values[vi];
        if (qtype == T_A) {
            if (v->na == 0)
                return -1;  /* no A value: an empty NOERROR in Python; rare, leave it there */
            an = (int)v->na;
            body = 16 * v->na;
        } else if (v->has_txt) {
            an = 1;
            keylen = snprintf(key, sizeof key, "%d.%d.%d.%d", oct[3], oct[2], oct[1], oct[0]);
            for (Py_ssize_t i = 0; i < v->nseg; i++)
                textlen += v->seglen[i];
            textlen += (v->nseg - 1) * keylen;
            Py_ssize_t rdlen = textlen ? textlen + (textlen + MAX_TXT_STRING - 1) / MAX_TXT_STRING : 1;
            if (rdlen > 0xFFFF)
                return -1;
            body = 12 + rdlen;
        }
    }
    if (an == 0) {
        ns = 1;
        body = z->neg_len[apex - APEX_MIN];
    }
    Py_ssize_t qlen = qend - HEADER_LEN;
    uint8_t hi = (uint8_t)(F_QR_HI | F_AA_HI | (q[2] & F_RD_HI));
    uint8_t lo = (uint8_t)((q[3] & F_CD_LO) | rcode);
    int tc = HEADER_LEN + qlen + body + (edns ? OPT_LEN : 0) > limit;
    uint8_t *p = out;
    *p++ = q[0];
    *p++ = q[1];
    *p++ = (uint8_t)(hi | (tc ? F_TC_HI : 0));
    *p++ = lo;
    p = put16(p, 1);
    p = put16(p, tc ? 0 : (unsigned)an);
    p = put16(p, tc ? 0 : (unsigned)ns);
    p = put16(p, (unsigned)edns);
    memcpy(p, q + HEADER_LEN, (size_t)qlen);
    p += qlen;
    if (!tc) {
        if (ns) {
            memcpy(p, z->neg[apex - APEX_MIN], (size_t)body);
            p += body;
        } else if (qtype == T_A) {
            for (Py_ssize_t i = 0; i < v->na; i++) {
                p = rr_head(p, T_A, v->ttl, 4);
                memcpy(p, v->a + 4 * i, 4);
                p += 4;
            }
        } else {
            p = rr_head(p, T_TXT, v->ttl, (unsigned)(body - 12));
            if (!textlen) {
                *p++ = 0;
            } else {
                /* the text (segments joined by the key) cut into 255-octet strings */
                uint8_t *lenp = p++;
                int inchunk = 0;
                for (Py_ssize_t s = 0; s < v->nseg; s++) {
                    for (int part = 0; part < 2; part++) {
                        const uint8_t *src = part ? (const uint8_t *)key : v->seg[s];
                        Py_ssize_t m = part ? (s + 1 < v->nseg ? keylen : 0) : v->seglen[s];
                        for (Py_ssize_t k = 0; k < m; k++) {
                            if (inchunk == MAX_TXT_STRING) {
                                *lenp = MAX_TXT_STRING;
                                lenp = p++;
                                inchunk = 0;
                            }
                            *p++ = src[k];
                            inchunk++;
                        }
                    }
                }
                *lenp = (uint8_t)inchunk;
            }
        }
    }
    if (edns) {
        static const uint8_t opt_head[] = {0, 0, T_OPT, UDP_SERVER_MAX >> 8, UDP_SERVER_MAX & 0xFF, 0, 0};
        memcpy(p, opt_head, sizeof opt_head);
        p += sizeof opt_head;
        *p++ = dnssec_ok ? 0x80 : 0;
        *p++ = 0;
        *p++ = 0;
        *p++ = 0;
    }
    return p - out;
}

static PyObject *Table_answer(Table *self, PyObject *arg)
{
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    uint8_t out[SLOT];
    const Zone *z;
    long long queried;
    Py_ssize_t m = answer(self, (const uint8_t *)b.buf, b.len, out, &z, &queried);
    PyBuffer_Release(&b);
    if (m < 0)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)out, m);
}

/* ---- the UDP batch loop --------------------------------------------------------------- */

static int truthy_call(PyObject *fn)
{
    PyObject *r = PyObject_CallNoArgs(fn);
    if (!r)
        return -1;
    int v = PyObject_IsTrue(r);
    Py_DECREF(r);
    return v;
}

/* reply = udp(*args); on an Exception, failed(query) is called as from an except block. */
static PyObject *python_reply(PyObject *udp, PyObject *failed, PyObject *args, PyObject *query)
{
    PyObject *reply = PyObject_Call(udp, args, NULL);
    if (!reply && PyErr_ExceptionMatches(PyExc_Exception)) {
        /* Python 3.11 has no PyErr_GetRaisedException: fetch, normalise, attach the traceback */
        PyObject *type, *exc, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        if (tb && exc)
            PyException_SetTraceback(exc, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        PyObject *prev = PyErr_GetHandledException();
        PyErr_SetHandledException(exc);
        reply = PyObject_CallOneArg(failed, query);
        PyErr_SetHandledException(prev);
        Py_XDECREF(prev);
        Py_XDECREF(exc);
    }
    return reply;
}

/* The packed source address of a datagram (4 or 16 octets; 0 for another family). */
static int client_of(const void *name, const uint8_t **addr)
{
    const struct sockaddr *sa = name;
    if (sa->sa_family == AF_INET) {
        *addr = (const uint8_t *)&((const struct sockaddr_in *)name)->sin_addr;
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        *addr = (const uint8_t *)&((const struct sockaddr_in6 *)name)->sin6_addr;
        return 16;
    }
    *addr = (const uint8_t *)"";
    return 0;
}

/* One query as the loop serves it: the reply written at dst (its length), -1 for none, -2 on a
 * Python error. Without a shield a query the Table hands back goes to udp(query); with one, to
 * udp(client, query, now), which answers and guards it in Python (mailrep.dns.shield), and a
 * reply made in C passes shield_filter here. */
static Py_ssize_t one(Table *table, ShieldObject *shield, PyObject *udp, PyObject *failed,
                      const uint8_t *client, int clen, const uint8_t *query, Py_ssize_t n,
                      uint8_t *dst, double now)
{
    const Zone *z = NULL;
    long long queried = -1;
    Py_ssize_t m = table ? answer(table, query, n, dst, &z, &queried) : -1;
    if (m >= 0) {
        table->answered++;
        if (shield)
            m = shield_filter(shield, client, clen, query, n, dst, m, &z->guard, queried, NULL, now);
        return m;
    }
    if (table)
        table->handed++;
    PyObject *q = PyBytes_FromStringAndSize((const char *)query, n);
    if (!q)
        return -2;
    PyObject *args = shield ? Py_BuildValue("(y#Od)", client, (Py_ssize_t)clen, q, now) : PyTuple_Pack(1, q);
    PyObject *reply = args ? python_reply(udp, failed, args, q) : NULL;
    Py_XDECREF(args);
    Py_DECREF(q);
    if (!reply)
        return -2;
    if (reply == Py_None || !PyBytes_Check(reply) || PyBytes_GET_SIZE(reply) > SLOT) {
        Py_DECREF(reply);
        return -1;
    }
    m = PyBytes_GET_SIZE(reply);
    memcpy(dst, PyBytes_AS_STRING(reply), (size_t)m);
    Py_DECREF(reply);
    return m;
}

static int now_of(PyObject *clock, double *now)
{
    if (clock == Py_None) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        *now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
        return 0;
    }
    PyObject *r = PyObject_CallNoArgs(clock);
    if (!r)
        return -1;
    *now = PyFloat_AsDouble(r);
    Py_DECREF(r);
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *process(PyObject *Py_UNUSED(mod), PyObject *args)
{
    /* process(table | None, shield | None, client, query, now, udp, failed) -> bytes | None:
     * what serve() sends for one query from `client` (for the parity tests) */
    PyObject *table, *shield, *udp, *failed;
    Py_buffer client, query;
    double now;
    if (!PyArg_ParseTuple(args, "OOy*y*dOO", &table, &shield, &client, &query, &now, &udp, &failed))
        return NULL;
    PyObject *result = NULL;
    uint8_t out[SLOT];
    if (table != Py_None && !PyObject_TypeCheck(table, &TableType)) {
        PyErr_SetString(PyExc_TypeError, "table must be a Table or None");
    } else if (shield != Py_None && !PyObject_TypeCheck(shield, &ShieldType)) {
        PyErr_SetString(PyExc_TypeError, "shield must be a Shield or None");
    } else if (query.len > SLOT) {
        PyErr_SetString(PyExc_ValueError, "query longer than a slot");
    } else {
        Py_ssize_t m = one(table == Py_None ? NULL : (Table *)table,
                           shield == Py_None ? NULL : (ShieldObject *)shield, udp, failed, client.buf,
                           (int)client.len, query.buf, query.len, out, now);
        if (m >= 0)
            result = PyBytes_FromStringAndSize((const char *)out, m);
        else if (m == -1)
            result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&client);
    PyBuffer_Release(&query);
    return result;
}

static PyObject *serve(PyObject *Py_UNUSED(mod), PyObject *args)
{
    int fd, batch = 64;
    PyObject *state_fn, *failed, *stopping, *shield_obj = Py_None, *clock = Py_None;
    if (!PyArg_ParseTuple(args, "iOOO|iOO", &fd, &state_fn, &failed, &stopping, &batch, &shield_obj, &clock))
        return NULL;
    if (shield_obj != Py_None && !PyObject_TypeCheck(shield_obj, &ShieldType)) {
        PyErr_SetString(PyExc_TypeError, "shield must be a Shield or None");
        return NULL;
    }
    ShieldObject *shield = shield_obj == Py_None ? NULL : (ShieldObject *)shield_obj;
    if (batch < 1 || batch > 1024) {
        PyErr_SetString(PyExc_ValueError, "batch must be 1..1024");
        return NULL;
    }
    size_t nb = (size_t)batch;
    uint8_t *rbuf = PyMem_Malloc(nb * SLOT), *sbuf = PyMem_Malloc(nb * SLOT);
    uint8_t *names = PyMem_Calloc(nb, NAME_MAX_LEN);
    struct iovec *riov = PyMem_Calloc(nb, sizeof *riov), *siov = PyMem_Calloc(nb, sizeof *siov);
    struct mmsghdr *rmsg = PyMem_Calloc(nb, sizeof *rmsg), *smsg = PyMem_Calloc(nb, sizeof *smsg);
    PyObject *result = NULL;
    if (!rbuf || !sbuf || !names || !riov || !siov || !rmsg || !smsg) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t i = 0; i < nb; i++) {
        riov[i].iov_base = rbuf + i * SLOT;
        riov[i].iov_len = SLOT;
        rmsg[i].msg_hdr.msg_iov = &riov[i];
        rmsg[i].msg_hdr.msg_iovlen = 1;
        rmsg[i].msg_hdr.msg_name = names + i * NAME_MAX_LEN;
        siov[i].iov_base = sbuf + i * SLOT;
        smsg[i].msg_hdr.msg_iov = &siov[i];
        smsg[i].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
        int stop = truthy_call(stopping);
        if (stop < 0)
            goto done;
        if (stop)
            break;
        for (size_t i = 0; i < nb; i++)
            rmsg[i].msg_hdr.msg_namelen = NAME_MAX_LEN;
        int k, err;
        Py_BEGIN_ALLOW_THREADS
        k = recvmmsg(fd, rmsg, (unsigned)nb, MSG_WAITFORONE, NULL);
        err = errno;
        Py_END_ALLOW_THREADS
        if (k <= 0) {
            if (k < 0 && err != EINTR && err != EAGAIN && err != ENOMEM && err != ECONNREFUSED) {
                stop = truthy_call(stopping);
                if (stop < 0)
                    goto done;
                if (stop)
                    break;
                errno = err;
                PyErr_SetFromErrno(PyExc_OSError);
                goto done;
            }
            continue;
        }
        PyObject *state = PyObject_CallNoArgs(state_fn);
        if (!state)
            goto done;
        Table *table = NULL;
        PyObject *udp = NULL;
        if (!PyArg_ParseTuple(state, "OO", &table, &udp)) {
            Py_DECREF(state);
            goto done;
        }
        if ((PyObject *)table == Py_None)
            table = NULL;
        double now = 0;
        if (shield && now_of(clock, &now) < 0) {
            Py_DECREF(state);
            goto done;
        }
        unsigned out = 0;
        for (int i = 0; i < k; i++) {
            Py_ssize_t n = rmsg[i].msg_len;
            if (n < HEADER_LEN)
                continue;  /* no header: silence */
            const uint8_t *client = NULL;
            int clen = shield ? client_of(rmsg[i].msg_hdr.msg_name, &client) : 0;
            uint8_t *dst = sbuf + (size_t)out * SLOT;
            Py_ssize_t m = one(table, shield, udp, failed, client, clen, rbuf + (size_t)i * SLOT, n, dst, now);
            if (m == -2) {
                Py_DECREF(state);
                goto done;
            }
            if (m < 0)
                continue;
            siov[out].iov_len = (size_t)m;
            smsg[out].msg_hdr.msg_name = rmsg[i].msg_hdr.msg_name;
            smsg[out].msg_hdr.msg_namelen = rmsg[i].msg_hdr.msg_namelen;
            out++;
        }
        Py_DECREF(state);
        unsigned sent = 0;
        int interrupted = 0;
        while (sent < out) {
            int got, serr;
            Py_BEGIN_ALLOW_THREADS
            got = sendmmsg(fd, smsg + sent, out - sent, 0);
            serr = errno;
            Py_END_ALLOW_THREADS
            /* A signal (e.g. SIGHUP for a reload, delivered to this thread) before anything was
             * sent: send again, or that reply would be lost. Any other error belongs to the first
             * unsent message: drop it (as sendto would) and go on. */
            if (got < 0 && serr == EINTR && interrupted++ < 100)
                continue;
            sent += got > 0 ? (unsigned)got : 1;
        }
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(rbuf);
    PyMem_Free(sbuf);
    PyMem_Free(names);
    PyMem_Free(riov);
    PyMem_Free(siov);
    PyMem_Free(rmsg);
    PyMem_Free(smsg);
    return result;
}

/* ---- module --------------------------------------------------------------------------- */

static PyMethodDef Table_methods[] = {
    {"answer", (PyCFunction)Table_answer, METH_O,
     "answer(query) -> reply bytes, or None when the Python responder must answer"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Table_members[] = {
    {"answered", T_ULONGLONG, offsetof(Table, answered), 0, "queries answered in C by serve()"},
    {"handed", T_ULONGLONG, offsetof(Table, handed), 0, "queries serve() handed to Python"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mailrep.dns._fastpath.Table",
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "IPv4 zones answered in C: Table(zone_specs); see mailrep.dns.fastpath",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Table_init,
    .tp_dealloc = (destructor)Table_dealloc,
    .tp_methods = Table_methods,
    .tp_members = Table_members,
};

static PyMethodDef module_methods[] = {
    {"serve", serve, METH_VARARGS,
     "serve(fd, state, failed, stopping, batch=64, shield=None, clock=None): the recvmmsg/sendmmsg "
     "loop; state() -> (Table | None, udp), read once per burst: udp(query) -> reply | None, or "
     "with a shield udp(client, query, now); clock() -> now once per burst (default CLOCK_MONOTONIC)"},
    {"process", process, METH_VARARGS,
     "process(table, shield, client, query, now, udp, failed) -> what serve() sends for one query"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastpath", "The DNSBL query loop in C (mailrep.dns.fastpath).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastpath(void)
{
    if (PyType_Ready(&TableType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (shield_ready(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Table", (PyObject *)&TableType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "SLOT", SLOT);
    return m;
}
