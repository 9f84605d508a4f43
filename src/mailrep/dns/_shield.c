/* mailrep.dns._fastpath.Shield: the defences of a public DNS node in C, so the UDP loop in
 * _fastpath.c keeps its speed with them on. A port of mailrep.dns.guard.Guard.filter and the
 * state it keeps (mailrep.dns.rrl.RateLimiter, acl.Acl / acl.Budget, querycount.QueryCounter,
 * metrics.DnsMetrics), decision for decision and byte for byte:
 *
 *   ACL (rule sets chosen per zone by a bit mask) -> query budget -> query counting -> RRL
 *   (token buckets per client network and response class, BIND-style slip) -> metrics.
 *
 * tests/dns/test_shield_parity.py runs generated query streams from generated clients through
 * both and compares every reply, every counter and the flushed query counts.
 *
 * Memory is bounded whatever the sources: the RRL table holds at most max_buckets (+2)
 * buckets, evicted as RateLimiter._evict does (a dict in insertion order: the entries array is
 * that order, the hash index points into it); the budget table restarts its window at
 * max_clients; the query counts are handed to Python (full_cb) at max_keys.
 */
#include "_shield.h"
#include <math.h>
#include <string.h>
#include <structmember.h>

enum { A_ALLOW = 0, A_REFUSE = 1, A_IGNORE = 2, A_ERROR = 3, N_ACTIONS = 4, RCODES = 16,
       PASS = 0, DROP = 1, SLIP = 2, KEY_MAX = 17, OUT_MAX = 4096, ERROR_TTL = 60 };

/* ---- networks: Networks.contains_packed ----------------------------------------------- */

typedef struct {
    int plen;
    Py_ssize_t n;
    uint8_t *keys;  /* n sorted big-endian keys of 4 (IPv4) or 16 (IPv6) octets: address >> (width - plen) */
} Level;

typedef struct {
    int n4, n6;
    Level *l4, *l6;
} Nets;

static void nets_free(Nets *t)
{
    for (int i = 0; i < t->n4; i++)
        PyMem_Free(t->l4[i].keys);
    for (int i = 0; i < t->n6; i++)
        PyMem_Free(t->l6[i].keys);
    PyMem_Free(t->l4);
    PyMem_Free(t->l6);
    memset(t, 0, sizeof *t);
}

static int levels_build(PyObject *items, int width, Level **out, int *count)
{
    /* [(plen, bytes of sorted keys, width octets each), ...] */
    if (!PyList_Check(items) && !PyTuple_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "levels must be a sequence");
        return -1;
    }
    Py_ssize_t n = PySequence_Size(items);
    *out = PyMem_Calloc((size_t)n + 1, sizeof(Level));
    if (!*out) {
        PyErr_NoMemory();
        return -1;
    }
    *count = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PySequence_GetItem(items, i);
        if (!it)
            return -1;
        int plen;
        const char *buf;
        Py_ssize_t len;
        int ok = PyArg_ParseTuple(it, "iy#", &plen, &buf, &len);
        Py_DECREF(it);
        if (!ok)
            return -1;
        if (plen < 0 || plen > width * 8 || len % width) {
            PyErr_SetString(PyExc_ValueError, "bad network level");
            return -1;
        }
        Level *lv = &(*out)[i];
        lv->plen = plen;
        lv->n = len / width;
        lv->keys = PyMem_Malloc((size_t)len + 1);
        if (!lv->keys) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(lv->keys, buf, (size_t)len);
    }
    return 0;
}

static int nets_build(PyObject *spec, Nets *t)
{
    /* None, or (v4 levels, v6 levels) */
    memset(t, 0, sizeof *t);
    if (spec == Py_None)
        return 0;
    PyObject *v4, *v6;
    if (!PyArg_ParseTuple(spec, "OO", &v4, &v6))
        return -1;
    if (levels_build(v4, 4, &t->l4, &t->n4) < 0 || levels_build(v6, 16, &t->l6, &t->n6) < 0)
        return -1;
    return 0;
}

static int level_has(const Level *lv, const uint8_t *key, int width)
{
    Py_ssize_t lo = 0, hi = lv->n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        int c = memcmp(lv->keys + mid * width, key, (size_t)width);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* a big-endian number of `width` octets shifted right by `shift` bits */
static void shift_right(const uint8_t *in, uint8_t *out, int width, int shift)
{
    int bytes = shift / 8, bits = shift % 8;
    for (int i = width - 1; i >= 0; i--) {
        int src = i - bytes;
        unsigned v = src >= 0 ? in[src] : 0;
        unsigned prev = src - 1 >= 0 ? in[src - 1] : 0;
        out[i] = (uint8_t)(bits ? (v >> bits | prev << (8 - bits)) : v);
    }
}

static const uint8_t MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int nets_contains(const Nets *t, const uint8_t *c, int clen)
{
    uint8_t key[16];
    if (clen == 4) {
        for (int i = 0; i < t->n4; i++) {
            shift_right(c, key, 4, 32 - t->l4[i].plen);
            if (level_has(&t->l4[i], key, 4))
                return 1;
        }
        return 0;
    }
    if (clen == 16 && !memcmp(c, MAPPED, 12) && nets_contains(t, c + 12, 4))
        return 1;
    uint8_t full[16] = {0};  /* int.from_bytes of what there is, as a 128-bit number */
    int n = clen > 16 ? 16 : clen;
    memcpy(full + 16 - n, c + clen - n, (size_t)n);
    for (int i = 0; i < t->n6; i++) {
        shift_right(full, key, 16, 128 - t->l6[i].plen);
        if (level_has(&t->l6[i], key, 16))
            return 1;
    }
    return 0;
}

/* ---- hashing ---------------------------------------------------------------------------- */

static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t hash_key(const uint8_t *k, int n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)n;
    for (int i = 0; i < n; i++)
        h = (h ^ k[i]) * 0x100000001b3ULL;
    return mix(h);
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

/* ---- RRL: RateLimiter ------------------------------------------------------------------- */

typedef struct {
    double tokens, last;
    uint64_t limited;
    uint8_t key[KEY_MAX];
    uint8_t klen;
} Bucket;

typedef struct {
    int on, slip, m4, m6, log_only;
    double rates[3], depth[3];
    Py_ssize_t max;
    Nets exempt;
    Bucket *e, *kept;      /* e: insertion order, `n` used; kept: eviction scratch */
    Py_ssize_t n, cap;
    int32_t *ix;           /* open addressing: entry index + 1, 0 = empty */
    size_t mask;
    unsigned long long drops, slips, limited, would_limit, evictions;
} Rrl;

static int rrl_build(PyObject *spec, Rrl *r)
{
    /* None, or (rates: 3 floats, depth: 3 floats, slip, m4, m6, exempt nets, log_only, max) */
    memset(r, 0, sizeof *r);
    if (spec == Py_None)
        return 0;
    PyObject *exempt;
    if (!PyArg_ParseTuple(spec, "(ddd)(ddd)iiiOpn", &r->rates[0], &r->rates[1], &r->rates[2],
                          &r->depth[0], &r->depth[1], &r->depth[2], &r->slip, &r->m4, &r->m6,
                          &exempt, &r->log_only, &r->max))
        return -1;
    if (r->max < 1 || r->max > (1 << 28)) {
        PyErr_SetString(PyExc_ValueError, "max_buckets must be 1..2**28");
        return -1;
    }
    if (nets_build(exempt, &r->exempt) < 0)
        return -1;
    r->m4 = r->m4 < 0 ? 0 : r->m4;
    r->m6 = r->m6 < 0 ? 0 : r->m6;
    r->cap = r->max + 2;  /* RateLimiter may go one past max_buckets (see rrl_evict) */
    size_t slots = pow2_at_least((size_t)r->cap * 2);
    /* calloc'd: pages are only resident once buckets land in them */
    r->e = PyMem_Calloc((size_t)r->cap, sizeof(Bucket));
    r->kept = PyMem_Calloc((size_t)r->cap, sizeof(Bucket));
    r->ix = PyMem_Calloc(slots, sizeof(int32_t));
    if (!r->e || !r->kept || !r->ix) {
        PyErr_NoMemory();
        return -1;
    }
    r->mask = slots - 1;
    r->on = 1;
    return 0;
}

static void rrl_free(Rrl *r)
{
    nets_free(&r->exempt);
    PyMem_Free(r->e);
    PyMem_Free(r->kept);
    PyMem_Free(r->ix);
    r->e = r->kept = NULL;
    r->ix = NULL;
}

static Bucket *rrl_find(Rrl *r, const uint8_t *k, int n, size_t *slot)
{
    size_t i = hash_key(k, n) & r->mask;
    for (;;) {
        int32_t v = r->ix[i];
        if (!v) {
            *slot = i;
            return NULL;
        }
        Bucket *b = &r->e[v - 1];
        if (b->klen == n && !memcmp(b->key, k, (size_t)n))
            return b;
        i = (i + 1) & r->mask;
    }
}

static void rrl_reindex(Rrl *r)
{
    memset(r->ix, 0, (r->mask + 1) * sizeof(int32_t));
    for (Py_ssize_t j = 0; j < r->n; j++) {
        size_t i = hash_key(r->e[j].key, r->e[j].klen) & r->mask;
        while (r->ix[i])
            i = (i + 1) & r->mask;
        r->ix[i] = (int32_t)(j + 1);
    }
}

/* RateLimiter._evict: of the oldest 2*target buckets, keep (moved to the end, in order) up to
 * `target` in debt, free the rest. */
static void rrl_evict(Rrl *r)
{
    Py_ssize_t target = r->max / 4 > 1 ? r->max / 4 : 1;
    Py_ssize_t look = 2 * target < r->n ? 2 * target : r->n, nkept = 0;
    for (Py_ssize_t j = 0; j < look; j++)
        if (r->e[j].tokens < 1.0 && nkept < target)
            r->kept[nkept++] = r->e[j];
    r->evictions += (unsigned long long)(look - nkept);
    memmove(r->e, r->e + look, (size_t)(r->n - look) * sizeof(Bucket));
    memcpy(r->e + (r->n - look), r->kept, (size_t)nkept * sizeof(Bucket));
    r->n = r->n - look + nkept;
    rrl_reindex(r);
}

static int rrl_check(Rrl *r, const uint8_t *client, int clen, int rclass, double now)
{
    double rate = r->rates[rclass];
    if (!(rate > 0))
        return PASS;
    uint8_t k[KEY_MAX];
    int m = clen == 4 ? r->m4 : r->m6;
    if (m > clen)
        m = clen;
    if (m > KEY_MAX - 1)
        m = KEY_MAX - 1;
    memcpy(k, client, (size_t)m);
    k[m] = (uint8_t)rclass;
    size_t slot;
    Bucket *b = rrl_find(r, k, m + 1, &slot);
    if (!b) {
        if (r->exempt.n4 + r->exempt.n6 && nets_contains(&r->exempt, client, clen))
            return PASS;
        if (r->n >= r->max) {
            rrl_evict(r);
            rrl_find(r, k, m + 1, &slot);  /* the index was rebuilt */
        }
        b = &r->e[r->n];
        b->tokens = r->depth[rclass] - 1.0;
        b->last = now;
        b->limited = 0;
        memcpy(b->key, k, (size_t)m + 1);
        b->klen = (uint8_t)(m + 1);
        r->ix[slot] = (int32_t)(++r->n);
        return PASS;
    }
    double tokens = b->tokens + (now - b->last) * rate;
    double depth = r->depth[rclass];
    if (tokens > depth)
        tokens = depth;
    b->last = now;
    if (tokens >= 1.0) {
        b->tokens = tokens - 1.0;
        return PASS;
    }
    b->tokens = tokens;
    if (r->exempt.n4 + r->exempt.n6 && nets_contains(&r->exempt, client, clen))
        return PASS;
    if (r->log_only) {
        r->would_limit++;
        return PASS;
    }
    r->limited++;
    b->limited++;
    if (r->slip && (long long)b->limited % r->slip == 0) {
        r->slips++;
        return SLIP;
    }
    r->drops++;
    return DROP;
}

/* ---- budget: Budget.over ---------------------------------------------------------------- */

typedef struct {
    uint8_t key[16];
    uint8_t klen, used;
    long long count;
} Tally;

typedef struct {
    int on;
    long long limit;
    double window, started;
    Py_ssize_t max, n;
    Tally *t;
    size_t mask;
} Budget;

static int budget_build(PyObject *spec, Budget *b)
{
    memset(b, 0, sizeof *b);
    if (spec == Py_None)
        return 0;
    if (!PyArg_ParseTuple(spec, "Ldn", &b->limit, &b->window, &b->max))
        return -1;
    b->mask = 1023;
    b->t = PyMem_Calloc(b->mask + 1, sizeof(Tally));
    if (!b->t) {
        PyErr_NoMemory();
        return -1;
    }
    b->on = 1;
    return 0;
}

static Tally *budget_slot(Tally *t, size_t mask, const uint8_t *k, int n)
{
    size_t i = hash_key(k, n) & mask;
    while (t[i].used && !(t[i].klen == n && !memcmp(t[i].key, k, (size_t)n)))
        i = (i + 1) & mask;
    return &t[i];
}

static int budget_over(Budget *b, const uint8_t *client, int clen, double now)
{
    if (now - b->started >= b->window || b->n >= b->max) {
        memset(b->t, 0, (b->mask + 1) * sizeof(Tally));
        b->n = 0;
        b->started = now;
    }
    int m = clen == 4 ? 3 : 7;
    if (m > clen)
        m = clen;
    Tally *s = budget_slot(b->t, b->mask, client, m);
    if (!s->used) {
        if ((size_t)(b->n + 1) * 2 > b->mask + 1) {  /* grow: keep the load under one half */
            size_t nmask = b->mask * 2 + 1;
            Tally *nt = PyMem_Calloc(nmask + 1, sizeof(Tally));
            if (!nt)
                return -1;
            for (size_t i = 0; i <= b->mask; i++)
                if (b->t[i].used)
                    *budget_slot(nt, nmask, b->t[i].key, b->t[i].klen) = b->t[i];
            PyMem_Free(b->t);
            b->t = nt;
            b->mask = nmask;
            s = budget_slot(b->t, b->mask, client, m);
        }
        s->used = 1;
        s->klen = (uint8_t)m;
        memcpy(s->key, client, (size_t)m);
        b->n++;
    }
    return ++s->count > b->limit;
}

/* ---- query counts: QueryCounter.count for IPv4 names ------------------------------------ */

typedef struct {
    uint32_t ip, n;  /* n == 0: empty */
} Count;

typedef struct {
    int on;
    Py_ssize_t max, n;
    Count *t;
    size_t mask;
    PyObject *count_cb;  /* counter.count(sub): names that are not four octets */
    PyObject *full_cb;   /* called when `max` addresses are held: drain them */
} Counts;

static int counts_build(PyObject *spec, Counts *c)
{
    memset(c, 0, sizeof *c);
    if (spec == Py_None)
        return 0;
    PyObject *count_cb, *full_cb;
    if (!PyArg_ParseTuple(spec, "nOO", &c->max, &count_cb, &full_cb))
        return -1;
    if (c->max < 1) {
        PyErr_SetString(PyExc_ValueError, "max_keys must be positive");
        return -1;
    }
    c->mask = 1023;
    c->t = PyMem_Calloc(c->mask + 1, sizeof(Count));
    if (!c->t) {
        PyErr_NoMemory();
        return -1;
    }
    c->count_cb = Py_NewRef(count_cb);
    c->full_cb = Py_NewRef(full_cb);
    c->on = 1;
    return 0;
}

static Count *count_slot(Count *t, size_t mask, uint32_t ip)
{
    size_t i = mix(ip * 0x9E3779B97F4A7C15ULL) & mask;
    while (t[i].n && t[i].ip != ip)
        i = (i + 1) & mask;
    return &t[i];
}

static int count_add(Counts *c, uint32_t ip)
{
    Count *s = count_slot(c->t, c->mask, ip);
    if (s->n) {
        s->n++;
        return 0;
    }
    if ((size_t)(c->n + 1) * 2 > c->mask + 1) {
        size_t nmask = c->mask * 2 + 1;
        Count *nt = PyMem_Calloc(nmask + 1, sizeof(Count));
        if (!nt) {
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; i <= c->mask; i++)
            if (c->t[i].n)
                *count_slot(nt, nmask, c->t[i].ip) = c->t[i];
        PyMem_Free(c->t);
        c->t = nt;
        c->mask = nmask;
        s = count_slot(c->t, c->mask, ip);
    }
    s->ip = ip;
    s->n = 1;
    if (++c->n >= c->max) {
        PyObject *r = PyObject_CallNoArgs(c->full_cb);
        if (!r)
            return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* ---- replies of the guard: acl.refused, acl.error_answer, rrl.slip_reply ---------------- */

static Py_ssize_t question_end(const uint8_t *q, Py_ssize_t n)
{
    Py_ssize_t pos = 12;
    while (pos < n) {
        int ln = q[pos];
        if (ln == 0)
            return pos + 5 <= n ? pos + 5 : -1;
        if (ln > 63)
            return -1;
        pos += 1 + ln;
    }
    return -1;
}

static Py_ssize_t refused(const uint8_t *q, Py_ssize_t n, uint8_t *out)
{
    Py_ssize_t end = question_end(q, n);
    if (n < 12 || q[2] & 0x80)
        return -1;
    Py_ssize_t len = end < 0 ? 12 : end;
    uint8_t head[12] = {q[0], q[1], (uint8_t)(0x80 | (q[2] & 0x01)), 5, 0, end < 0 ? 0 : 1, 0, 0, 0, 0, 0, 0};
    if (end >= 0)
        memmove(out + 12, q + 12, (size_t)(end - 12));
    memcpy(out, head, 12);
    return len;
}

static const char TEXT_RESOLVER[] = "Query refused: public/open resolver";
static const char TEXT_EXCESSIVE[] = "Query refused: excessive number of queries";

static Py_ssize_t error_answer(const uint8_t *q, Py_ssize_t n, int excessive, uint8_t *out)
{
    Py_ssize_t end = question_end(q, n);
    if (end < 0 || q[2] & 0x80)
        return refused(q, n, out);
    unsigned qtype = (unsigned)q[end - 4] << 8 | q[end - 3];
    uint8_t rr[12 + 1 + sizeof TEXT_EXCESSIVE];
    Py_ssize_t rrlen;
    rr[0] = 0xC0; rr[1] = 0x0C; rr[4] = 0; rr[5] = 1;
    rr[6] = 0; rr[7] = 0; rr[8] = 0; rr[9] = ERROR_TTL;
    if (qtype == 1 || qtype == 255) {
        rr[2] = 0; rr[3] = 1; rr[10] = 0; rr[11] = 4;
        rr[12] = 127; rr[13] = 255; rr[14] = 255; rr[15] = excessive ? 255 : 254;
        rrlen = 16;
    } else if (qtype == 16) {
        const char *text = excessive ? TEXT_EXCESSIVE : TEXT_RESOLVER;
        size_t tl = strlen(text);
        rr[2] = 0; rr[3] = 16; rr[10] = 0; rr[11] = (uint8_t)(tl + 1);
        rr[12] = (uint8_t)tl;
        memcpy(rr + 13, text, tl);
        rrlen = 13 + (Py_ssize_t)tl;
    } else {
        return refused(q, n, out);
    }
    uint8_t head[12] = {q[0], q[1], (uint8_t)(0x84 | (q[2] & 0x01)), 0, 0, 1, 0, 1, 0, 0, 0, 0};
    memmove(out + 12, q + 12, (size_t)(end - 12));
    memcpy(out, head, 12);
    memcpy(out + end, rr, (size_t)rrlen);
    return end + rrlen;
}

static Py_ssize_t slip_reply(uint8_t *r, Py_ssize_t n)
{
    Py_ssize_t pos = 12;
    while (pos < n && r[pos])
        pos += 1 + r[pos];
    Py_ssize_t end = pos + 5;
    r[2] |= 0x02;
    if (r[4] != 0 || r[5] != 1 || end > n) {
        memset(r + 4, 0, 8);
        return 12;
    }
    memset(r + 6, 0, 6);
    return end;
}

static int response_class(const uint8_t *r)
{
    int rcode = r[3] & 0xF;
    if (rcode == 0)
        return (r[6] || r[7]) ? 0 : 1;
    return rcode == 3 ? 1 : 2;
}

/* ---- the Shield ----------------------------------------------------------------------- */

typedef struct {
    int nrules, deflt;
    Nets *nets;
    int *actions;
} AclSet;

struct ShieldObject {
    PyObject_HEAD
    int nsets;
    AclSet *sets;
    Rrl rrl;
    Budget budget;
    Counts counts;
    int metrics;
    Py_ssize_t nzones;            /* rows of `queries` */
    unsigned long long (*queries)[RCODES];
    unsigned long long acl_counts[N_ACTIONS];  /* [A_ALLOW] = over budget */
};

static int acl_build(PyObject *spec, ShieldObject *s)
{
    /* [(rules: [(nets, action)], default), ...] */
    Py_ssize_t n = PySequence_Size(spec);
    if (n < 0)
        return -1;
    if (n > 64) {
        PyErr_SetString(PyExc_ValueError, "at most 64 ACL rule sets");
        return -1;
    }
    s->sets = PyMem_Calloc((size_t)n + 1, sizeof(AclSet));
    if (!s->sets) {
        PyErr_NoMemory();
        return -1;
    }
    s->nsets = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PySequence_GetItem(spec, i), *rules;
        if (!it)
            return -1;
        AclSet *a = &s->sets[i];
        int ok = PyArg_ParseTuple(it, "Oi", &rules, &a->deflt);
        if (ok) {
            Py_ssize_t nr = PySequence_Size(rules);
            a->nets = PyMem_Calloc((size_t)(nr < 0 ? 0 : nr) + 1, sizeof(Nets));
            a->actions = PyMem_Calloc((size_t)(nr < 0 ? 0 : nr) + 1, sizeof(int));
            if (nr < 0 || !a->nets || !a->actions) {
                ok = 0;
                if (!PyErr_Occurred())
                    PyErr_NoMemory();
            }
            for (Py_ssize_t j = 0; ok && j < nr; j++) {
                PyObject *rule = PySequence_GetItem(rules, j), *nets;
                ok = rule && PyArg_ParseTuple(rule, "Oi", &nets, &a->actions[j]) &&
                     nets_build(nets, &a->nets[j]) == 0;
                Py_XDECREF(rule);
                a->nrules = (int)j + 1;
            }
        }
        Py_DECREF(it);
        if (!ok)
            return -1;
    }
    return 0;
}

static int acl_action(const ShieldObject *s, const uint8_t *client, int clen, uint64_t mask)
{
    for (int i = 0; i < s->nsets; i++) {
        if (!(mask >> i & 1))
            continue;
        const AclSet *a = &s->sets[i];
        int act = a->deflt;
        for (int j = 0; j < a->nrules; j++)
            if (nets_contains(&a->nets[j], client, clen)) {
                act = a->actions[j];
                break;
            }
        if (act != A_ALLOW)
            return act;
    }
    return A_ALLOW;
}

static int metrics_row(ShieldObject *s, int id)
{
    if (id < 0)
        return -1;
    if (id >= s->nzones) {
        Py_ssize_t n = id + 8;
        void *p = PyMem_Realloc(s->queries, (size_t)n * sizeof(*s->queries));
        if (!p) {
            PyErr_NoMemory();
            return -1;
        }
        s->queries = p;
        memset(s->queries + s->nzones, 0, (size_t)(n - s->nzones) * sizeof(*s->queries));
        s->nzones = n;
    }
    return 0;
}

Py_ssize_t shield_filter(ShieldObject *s, const uint8_t *client, int clen, const uint8_t *query,
                         Py_ssize_t qlen, uint8_t *reply, Py_ssize_t rlen, const ZoneGuard *zg,
                         long long count_ip, PyObject *sub, double now)
{
    if (s->nsets) {
        int act = acl_action(s, client, clen, zg->acl_mask);
        if (act != A_ALLOW) {
            if (s->metrics)
                s->acl_counts[act]++;
            if (act == A_IGNORE)
                return -1;
            rlen = act == A_REFUSE ? refused(query, qlen, reply) : error_answer(query, qlen, 0, reply);
            if (rlen < 0)
                return -1;
        }
    }
    if (s->budget.on && zg->known) {
        int over = budget_over(&s->budget, client, clen, now);
        if (over < 0) {
            PyErr_NoMemory();
            return -2;
        }
        if (over) {
            if (s->metrics)
                s->acl_counts[A_ALLOW]++;
            rlen = error_answer(query, qlen, 1, reply);
            if (rlen < 0)
                return -1;
        }
    }
    if (s->counts.on && zg->counted) {
        if (count_ip >= 0) {
            if (count_add(&s->counts, (uint32_t)count_ip) < 0)
                return -2;
        } else if (sub) {
            PyObject *r = PyObject_CallOneArg(s->counts.count_cb, sub);
            if (!r)
                return -2;
            Py_DECREF(r);
        }
    }
    if (rlen < 12)
        return rlen;  /* nothing Python could classify either: not from our responder */
    if (s->rrl.on) {
        int v = rrl_check(&s->rrl, client, clen, response_class(reply), now);
        if (v == DROP)
            return -1;
        if (v == SLIP)
            rlen = slip_reply(reply, rlen);
    }
    if (s->metrics) {
        if (metrics_row(s, zg->metrics_id) < 0)
            return -2;
        s->queries[zg->metrics_id][reply[3] & 0xF]++;
    }
    return rlen;
}

/* ---- Python face ---------------------------------------------------------------------- */

static void Shield_clear(ShieldObject *s)
{
    for (int i = 0; s->sets && i < s->nsets; i++) {
        for (int j = 0; j < s->sets[i].nrules; j++)
            nets_free(&s->sets[i].nets[j]);
        PyMem_Free(s->sets[i].nets);
        PyMem_Free(s->sets[i].actions);
    }
    PyMem_Free(s->sets);
    s->sets = NULL;
    s->nsets = 0;
    rrl_free(&s->rrl);
    PyMem_Free(s->budget.t);
    s->budget.t = NULL;
    PyMem_Free(s->counts.t);
    s->counts.t = NULL;
    Py_CLEAR(s->counts.count_cb);
    Py_CLEAR(s->counts.full_cb);
    PyMem_Free(s->queries);
    s->queries = NULL;
    s->nzones = 0;
}

static int Shield_init(ShieldObject *self, PyObject *args, PyObject *kw)
{
    PyObject *acl, *rrl, *budget, *counts;
    int metrics;
    static char *names[] = {"acl", "rrl", "budget", "counts", "metrics", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOp", names, &acl, &rrl, &budget, &counts, &metrics))
        return -1;
    Shield_clear(self);
    memset(&self->rrl, 0, sizeof self->rrl);
    memset(&self->budget, 0, sizeof self->budget);
    memset(&self->counts, 0, sizeof self->counts);
    memset(self->acl_counts, 0, sizeof self->acl_counts);
    self->metrics = metrics;
    if (acl_build(acl, self) < 0 || rrl_build(rrl, &self->rrl) < 0 || budget_build(budget, &self->budget) < 0 ||
        counts_build(counts, &self->counts) < 0 || metrics_row(self, 0) < 0)
        return -1;
    return 0;
}

static void Shield_dealloc(ShieldObject *self)
{
    Shield_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Shield_filter(ShieldObject *self, PyObject *args)
{
    /* filter(client, query, reply, known, acl_mask, counted, metrics_id, count_ip, sub, now) */
    Py_buffer client, query, reply;
    ZoneGuard zg;
    unsigned long long mask;
    long long count_ip;
    PyObject *sub;
    double now;
    if (!PyArg_ParseTuple(args, "y*y*y*pKpiLOd", &client, &query, &reply, &zg.known, &mask, &zg.counted,
                          &zg.metrics_id, &count_ip, &sub, &now))
        return NULL;
    zg.acl_mask = mask;
    PyObject *result = NULL;
    uint8_t out[OUT_MAX];
    if (reply.len > OUT_MAX) {
        PyErr_SetString(PyExc_ValueError, "reply longer than 4096 octets");
        goto done;
    }
    memcpy(out, reply.buf, (size_t)reply.len);
    Py_ssize_t m = shield_filter(self, client.buf, (int)client.len, query.buf, query.len, out, reply.len, &zg,
                                 count_ip, sub == Py_None ? NULL : sub, now);
    if (m == -2)
        goto done;
    result = m < 0 ? Py_NewRef(Py_None) : PyBytes_FromStringAndSize((const char *)out, m);
done:
    PyBuffer_Release(&client);
    PyBuffer_Release(&query);
    PyBuffer_Release(&reply);
    return result;
}

static PyObject *Shield_rrl_check(ShieldObject *self, PyObject *args)
{
    Py_buffer client;
    int rclass;
    double now;
    if (!PyArg_ParseTuple(args, "y*id", &client, &rclass, &now))
        return NULL;
    int v = PASS;
    if (rclass < 0 || rclass > 2)
        PyErr_SetString(PyExc_ValueError, "response class must be 0..2");
    else if (self->rrl.on)
        v = rrl_check(&self->rrl, client.buf, (int)client.len, rclass, now);
    PyBuffer_Release(&client);
    return PyErr_Occurred() ? NULL : PyLong_FromLong(v);
}

static PyObject *Shield_drain_counts(ShieldObject *self, PyObject *Py_UNUSED(arg))
{
    /* the IPv4 counts as native uint32 pairs (address, count), then empty: a copy, so the UDP
     * loop waits for no more than that; the dict is made from it later (mailrep.dns.shield) */
    Counts *c = &self->counts;
    if (!c->on)
        return PyBytes_FromStringAndSize(NULL, 0);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)c->n * 8);
    if (!out)
        return NULL;
    uint32_t *p = (uint32_t *)PyBytes_AS_STRING(out);
    for (size_t i = 0; i <= c->mask; i++)
        if (c->t[i].n) {
            *p++ = c->t[i].ip;
            *p++ = c->t[i].n;
        }
    memset(c->t, 0, (c->mask + 1) * sizeof(Count));
    c->n = 0;
    return out;
}

static PyObject *Shield_query_counts(ShieldObject *self, PyObject *Py_UNUSED(arg))
{
    /* [(metrics_id, rcode, n), ...] of the non-zero counters */
    PyObject *out = PyList_New(0);
    for (Py_ssize_t z = 0; out && z < self->nzones; z++)
        for (int r = 0; r < RCODES; r++) {
            if (!self->queries[z][r])
                continue;
            PyObject *t = Py_BuildValue("(niK)", z, r, self->queries[z][r]);
            if (!t || PyList_Append(out, t) < 0) {
                Py_XDECREF(t);
                Py_CLEAR(out);
                break;
            }
            Py_DECREF(t);
        }
    return out;
}

static PyObject *Shield_acl_counts(ShieldObject *self, PyObject *Py_UNUSED(arg))
{
    return Py_BuildValue("{sKsKsKsK}", "refuse", self->acl_counts[A_REFUSE], "ignore",
                         self->acl_counts[A_IGNORE], "error", self->acl_counts[A_ERROR], "over_budget",
                         self->acl_counts[A_ALLOW]);
}

static PyObject *Shield_get_buckets(ShieldObject *self, void *Py_UNUSED(c)) { return PyLong_FromSsize_t(self->rrl.n); }
static PyObject *Shield_get_counted(ShieldObject *self, void *Py_UNUSED(c)) { return PyLong_FromSsize_t(self->counts.n); }
static PyObject *Shield_get_clients(ShieldObject *self, void *Py_UNUSED(c)) { return PyLong_FromSsize_t(self->budget.n); }

static PyObject *Shield_get_table_bytes(ShieldObject *self, void *Py_UNUSED(c))
{
    size_t b = 0;
    if (self->rrl.on)
        b += 2 * (size_t)self->rrl.cap * sizeof(Bucket) + (self->rrl.mask + 1) * sizeof(int32_t);
    if (self->budget.on)
        b += (self->budget.mask + 1) * sizeof(Tally);
    if (self->counts.on)
        b += (self->counts.mask + 1) * sizeof(Count);
    return PyLong_FromSize_t(b);
}

static PyMethodDef Shield_methods[] = {
    {"filter", (PyCFunction)Shield_filter, METH_VARARGS,
     "filter(client, query, reply, known, acl_mask, counted, metrics_id, count_ip, sub, now) -> bytes | None"},
    {"rrl_check", (PyCFunction)Shield_rrl_check, METH_VARARGS, "rrl_check(client, rclass, now) -> 0 pass, 1 drop, 2 slip"},
    {"drain_counts", (PyCFunction)Shield_drain_counts, METH_NOARGS, "the IPv4 query counts as native uint32 (address, count) pairs; resets them"},
    {"query_counts", (PyCFunction)Shield_query_counts, METH_NOARGS, "[(metrics_id, rcode, n)]"},
    {"acl_counts", (PyCFunction)Shield_acl_counts, METH_NOARGS, "{action: n}"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Shield_members[] = {
    {"drops", T_ULONGLONG, offsetof(ShieldObject, rrl.drops), READONLY, "replies dropped by RRL"},
    {"slips", T_ULONGLONG, offsetof(ShieldObject, rrl.slips), READONLY, "replies slipped (TC=1) by RRL"},
    {"limited", T_ULONGLONG, offsetof(ShieldObject, rrl.limited), READONLY, "replies RRL limited"},
    {"would_limit", T_ULONGLONG, offsetof(ShieldObject, rrl.would_limit), READONLY, "log-only: would limit"},
    {"evictions", T_ULONGLONG, offsetof(ShieldObject, rrl.evictions), READONLY, "RRL buckets evicted"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef Shield_getset[] = {
    {"size", (getter)Shield_get_buckets, NULL, "RRL buckets held (RateLimiter.size)", NULL},
    {"counted", (getter)Shield_get_counted, NULL, "IPv4 addresses with a query count held", NULL},
    {"clients", (getter)Shield_get_clients, NULL, "client networks in the budget window", NULL},
    {"table_bytes", (getter)Shield_get_table_bytes, NULL, "bytes allocated for the three tables", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ShieldType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mailrep.dns._fastpath.Shield",
    .tp_basicsize = sizeof(ShieldObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The defences of a DNS node in C: Shield(acl, rrl, budget, counts, metrics); see mailrep.dns.shield",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Shield_init,
    .tp_dealloc = (destructor)Shield_dealloc,
    .tp_methods = Shield_methods,
    .tp_members = Shield_members,
    .tp_getset = Shield_getset,
};

int shield_ready(PyObject *module)
{
    if (PyType_Ready(&ShieldType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "Shield", (PyObject *)&ShieldType);
}
