/*
 * binmon._speedups: the asset index hot path in C.
 *
 * asset_index_lines(message) turns one combined-stream message carrying
 * assetIndexUpdate payloads straight into binmon's JSON lines, validating
 * every decimal as a JSON number and keeping its exact digits.
 * recorded_asset_index_lines(line) does the same for one recording line: the
 * envelope plus "recv_time", which the replay requires, on an asset index
 * stream (the replay routes every other stream elsewhere).
 * valued_asset_index_lines and valued_recorded_asset_index_lines do the same
 * and, in the same call, append the frame's "collateral" line for --hold
 * (see "the collateral line" below).
 *
 * All accept a strict subset of what the Python path accepts and return
 * None for anything else (escapes, unknown fields, odd symbols, whitespace
 * inside values, ...): the caller then takes the pure-Python path, which is
 * the reference. tests/test_speedups.py checks the two agree byte for byte,
 * and fuzz/fuzz_speedups.py keeps looking for an input where they do not.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define NFIELDS 12 /* e E s i b a B A q g Q G */
enum { F_e, F_E, F_s, F_i, F_b, F_a, F_B, F_A, F_q, F_g, F_Q, F_G };

typedef struct {
    const char *v[NFIELDS];
    Py_ssize_t n[NFIELDS];
    long long event_time;
} Elem;

typedef struct {
    const char *p;
    const char *end;
} Cur;

static const char *PIECES[] = {
    "{\"type\":\"asset_index\",\"symbol\":\"",
    "\",\"event_time\":",
    ",\"index_price\":",
    ",\"bid_buffer\":",
    ",\"ask_buffer\":",
    ",\"bid_rate\":",
    ",\"ask_rate\":",
    ",\"auto_exchange_bid_buffer\":",
    ",\"auto_exchange_ask_buffer\":",
    ",\"auto_exchange_bid_rate\":",
    ",\"auto_exchange_ask_rate\":",
    "}\n",
};
/* Output order of the fields after each piece but the last. */
static const int ORDER[] = {F_s, F_E, F_i, F_b, F_a, F_B, F_A, F_q, F_g, F_Q, F_G};
static Py_ssize_t piece_len[12];
static Py_ssize_t pieces_total;

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

static inline void skip_ws(Cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static inline int take(Cur *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A JSON string with no escapes and no control characters. */
static int plain_string(Cur *c, const char **s, Py_ssize_t *n)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p != '"')
        return 0;
    const char *start = ++c->p;
    const char *q = memchr(start, '"', (size_t)(c->end - start));
    if (q == NULL)
        return 0;
    for (const char *r = start; r < q; r++) {
        unsigned char ch = (unsigned char)*r;
        if (ch == '\\' || ch < 0x20)
            return 0;
    }
    *s = start;
    *n = q - start;
    c->p = q + 1;
    return 1;
}

/* JSON number grammar, the whole text and nothing else. */
static int is_number(const char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < n && is_digit(s[i]))
            i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            return 0;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return 0;
        while (i < n && is_digit(s[i]))
            i++;
    }
    return i == n;
}

/*
 * A non-negative integer as JSON writes it (no leading zeros: "01" is not
 * JSON) and as Python prints it, short enough for a long long; 0 otherwise.
 */
static int plain_integer(Cur *c, const char **s, Py_ssize_t *n, long long *value)
{
    skip_ws(c);
    const char *start = c->p;
    while (c->p < c->end && is_digit(*c->p))
        c->p++;
    Py_ssize_t len = c->p - start;
    if (len == 0 || len > 18 || (len > 1 && start[0] == '0'))
        return 0;
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        return 0;
    long long v = 0;
    for (Py_ssize_t i = 0; i < len; i++)
        v = v * 10 + (start[i] - '0');
    *s = start;
    *n = len;
    *value = v;
    return 1;
}

/* The replay's test for an asset index stream: "!assetIndex@arr" or "<asset>@assetIndex". */
static int asset_index_stream(const char *s, Py_ssize_t n)
{
    static const char all[] = "!assetIndex@arr", one[] = "@assetIndex";
    if (n == (Py_ssize_t)sizeof(all) - 1 && memcmp(s, all, sizeof(all) - 1) == 0)
        return 1;
    return n >= (Py_ssize_t)sizeof(one) - 1
        && memcmp(s + n - (Py_ssize_t)sizeof(one) + 1, one, sizeof(one) - 1) == 0;
}

static int plain_symbol(const char *s, Py_ssize_t n)
{
    if (n == 0)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!(is_digit(ch) || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_'))
            return 0;
    }
    return 1;
}

static int field_index(char key)
{
    switch (key) {
    case 'e': return F_e;
    case 'E': return F_E;
    case 's': return F_s;
    case 'i': return F_i;
    case 'b': return F_b;
    case 'a': return F_a;
    case 'B': return F_B;
    case 'A': return F_A;
    case 'q': return F_q;
    case 'g': return F_g;
    case 'Q': return F_Q;
    case 'G': return F_G;
    default: return -1;
    }
}

/* One assetIndexUpdate object into `e`; 0 when it is not in the fast subset. */
static int parse_elem(Cur *c, Elem *e)
{
    unsigned int seen = 0;
    if (!take(c, '{'))
        return 0;
    for (;;) {
        const char *key;
        Py_ssize_t klen;
        if (!plain_string(c, &key, &klen) || klen != 1 || !take(c, ':'))
            return 0;
        int f = field_index(key[0]);
        if (f < 0 || (seen & (1u << f)))
            return 0;
        seen |= 1u << f;
        if (f == F_E) {
            if (!plain_integer(c, &e->v[F_E], &e->n[F_E], &e->event_time))
                return 0;
        }
        else {
            if (!plain_string(c, &e->v[f], &e->n[f]))
                return 0;
            if (f == F_e) {
                if (e->n[f] != 16 || memcmp(e->v[f], "assetIndexUpdate", 16) != 0)
                    return 0;
            }
            else if (f == F_s) {
                if (!plain_symbol(e->v[f], e->n[f]))
                    return 0;
            }
            else if (!is_number(e->v[f], e->n[f]))
                return 0;
        }
        if (take(c, ','))
            continue;
        if (take(c, '}'))
            break;
        return 0;
    }
    return seen == (1u << NFIELDS) - 1;
}


/* ---- the collateral line ------------------------------------------------
 *
 * valued_asset_index_lines(message, holdings, floor) and its recorded twin
 * encode a frame as asset_index_lines does and, in the same call, value the
 * holdings at the frame's entries: when it can be sure of it, the finished
 * "collateral" line is appended to the frame's lines, exactly as
 * binmon.collateral (Decimal under a trapping context) and
 * binmon.jsonl.encode_collateral would write it, and the newest held event
 * time is returned with it (else None there, and no line: Python values the
 * frame). holdings is a tuple of (needle, prefix, quantity coefficient,
 * quantity scale, short), made by binmon.collateral.fast_holdings. It cannot
 * be sure when a held symbol is missing from the frame, an entry is older
 * than floor (Collateral keeps the newer one it knows), a number is not a
 * short plain decimal, or anything could overflow 128 bits.
 */
#define MAX_HOLDINGS 32
#define MAX_DIGITS 30 /* < 10^30: products of two still fit, with checks */
#define NUM_CHARS 128

typedef struct {
    __int128 v;
    int scale;
} Num;

/* -?D+(.D+)? with at most MAX_DIGITS digits: what Decimal reads the same way. */
static int plain_decimal(const char *s, Py_ssize_t n, Num *out)
{
    Py_ssize_t i = 0;
    int neg = 0, digits = 0, scale = 0, frac = 0;
    __int128 acc = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= n || !is_digit(s[i]))
        return 0;
    for (; i < n; i++) {
        char ch = s[i];
        if (is_digit(ch)) {
            if (++digits > MAX_DIGITS)
                return 0;
            acc = acc * 10 + (ch - '0');
            scale += frac;
        } else if (ch == '.' && !frac && i + 1 < n && is_digit(s[i + 1])) {
            frac = 1;
        } else {
            return 0;
        }
    }
    out->v = neg ? -acc : acc;
    out->scale = scale;
    return 1;
}

/* 10**k, and the largest magnitude that can be multiplied by it, for k < 39
 * (filled in at import): a checked 128-bit multiplication is a library call. */
#define POW10_COUNT 39
static __int128 pow10_of[POW10_COUNT];
static __int128 pow10_limit[POW10_COUNT];

static void fill_pow10(void)
{
    __int128 max = (__int128)(~(unsigned __int128)0 >> 1);
    __int128 p = 1;
    for (int k = 0; k < POW10_COUNT; k++) {
        pow10_of[k] = p;
        pow10_limit[k] = max / p;
        if (k + 1 < POW10_COUNT)
            p *= 10;
    }
}

static int rescale(Num *a, int scale)
{
    int k = scale - a->scale;
    if (k <= 0)
        return 1;
    if (k >= POW10_COUNT || a->v > pow10_limit[k] || a->v < -pow10_limit[k])
        return 0;
    a->v *= pow10_of[k];
    a->scale = scale;
    return 1;
}

static inline int fits_64(__int128 v) { return v >= INT64_MIN && v <= INT64_MAX; }

static int mul(Num a, Num b, Num *out)
{
    out->scale = a.scale + b.scale;
    if (fits_64(a.v) && fits_64(b.v)) { /* below 2**126: cannot overflow */
        out->v = a.v * b.v;
        return 1;
    }
    return !__builtin_mul_overflow(a.v, b.v, &out->v);
}

/* Exact sum or difference at the finer scale, as Decimal gives it. */
static int add(Num a, Num b, int negate_b, Num *out)
{
    int scale = a.scale > b.scale ? a.scale : b.scale;
    if (!rescale(&a, scale) || !rescale(&b, scale))
        return 0;
    out->scale = scale;
    if (negate_b)
        return !__builtin_sub_overflow(a.v, b.v, &out->v);
    return !__builtin_add_overflow(a.v, b.v, &out->v);
}

/* Positional text with every place, no sign on zero (binmon.collateral.plain). */
static char *put_num(char *w, Num a)
{
    char tmp[NUM_CHARS];
    int n = 0;
    unsigned __int128 m = a.v < 0 ? -(unsigned __int128)a.v : (unsigned __int128)a.v;
    /* 128-bit division is a library call: only for what 64 bits cannot hold. */
    while (m > (unsigned __int128)UINT64_MAX) {
        tmp[n++] = (char)('0' + (int)(m % 10));
        m /= 10;
    }
    unsigned long long low = (unsigned long long)m;
    do {
        tmp[n++] = (char)('0' + (int)(low % 10));
        low /= 10;
    } while (low);
    while (n < a.scale + 1)
        tmp[n++] = '0';
    if (a.v < 0)
        *w++ = '-';
    while (n > a.scale)
        *w++ = tmp[--n];
    if (a.scale > 0) {
        *w++ = '.';
        while (n > 0)
            *w++ = tmp[--n];
    }
    return w;
}

static char *put(char *w, const char *s, Py_ssize_t n)
{
    memcpy(w, s, (size_t)n);
    return w + n;
}
/* What every needle starts with (binmon.collateral.needle), and ends with. */
static const char SYMBOL_KEY[] = "\"symbol\":\"";
#define SYMBOL_KEY_LEN ((Py_ssize_t)(sizeof SYMBOL_KEY - 1))

typedef struct {
    const char *symbol, *prefix;
    Py_ssize_t symbol_n, prefix_n;
    long long coefficient;
    int scale, is_short;
} Holding;

typedef struct {
    const char *index, *rate;
    Py_ssize_t index_n, rate_n;
    Num value, haircut;
} Row;

typedef struct {
    Holding holdings[MAX_HOLDINGS];
    Row rows[MAX_HOLDINGS];
    Py_ssize_t count;
    Num total_value, total_haircut;
    long long newest;
    Py_ssize_t need; /* an upper bound of the line's length */
} Valuation;

/* The holdings argument into v: 1, 0 to decline, -1 with an exception set. */
static int load_holdings(PyObject *holdings, Valuation *v)
{
    if (!PyTuple_Check(holdings)) {
        PyErr_SetString(PyExc_TypeError, "holdings must be a tuple");
        return -1;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(holdings);
    if (count < 1 || count > MAX_HOLDINGS)
        return 0;
    for (Py_ssize_t h = 0; h < count; h++) {
        PyObject *item = PyTuple_GET_ITEM(holdings, h);
        Holding *d = &v->holdings[h];
        const char *needle;
        Py_ssize_t needle_n;
        if (!PyTuple_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "a holding must be a tuple");
            return -1;
        }
        if (!PyArg_ParseTuple(item, "y#y#Lip", &needle, &needle_n, &d->prefix, &d->prefix_n,
                              &d->coefficient, &d->scale, &d->is_short))
            return -1;
        /* "symbol":"<SYMBOL>", */
        if (d->scale < 0 || d->scale > MAX_DIGITS || needle_n < SYMBOL_KEY_LEN + 3 ||
            memcmp(needle, SYMBOL_KEY, (size_t)SYMBOL_KEY_LEN) != 0 ||
            memcmp(needle + needle_n - 2, "\",", 2) != 0)
            return 0;
        d->symbol = needle + SYMBOL_KEY_LEN;
        d->symbol_n = needle_n - SYMBOL_KEY_LEN - 2;
    }
    v->count = count;
    return 1;
}

/* Holding h valued at one entry's text; 0 to decline. */
static int value_row(Valuation *v, Py_ssize_t h, long long time, long long floor,
                     const char *index_s, Py_ssize_t index_n, const char *bid_s,
                     Py_ssize_t bid_n, const char *ask_s, Py_ssize_t ask_n)
{
    const Holding *d = &v->holdings[h];
    if (time < floor)
        return 0;
    if (time > v->newest)
        v->newest = time;
    const char *rate_s = d->is_short ? ask_s : bid_s;
    Py_ssize_t rate_n = d->is_short ? ask_n : bid_n;
    Num quantity = {(__int128)d->coefficient, d->scale}, index, rate, worth, at_index, haircut;
    if (!plain_decimal(index_s, index_n, &index) || !plain_decimal(rate_s, rate_n, &rate) ||
        !mul(quantity, rate, &worth) || !mul(quantity, index, &at_index) ||
        !add(at_index, worth, 1, &haircut) || !add(v->total_value, worth, 0, &v->total_value) ||
        !add(v->total_haircut, haircut, 0, &v->total_haircut))
        return 0;
    v->rows[h] = (Row){index_s, rate_s, index_n, rate_n, worth, haircut};
    v->need += d->prefix_n + index_n + rate_n + 2 * NUM_CHARS + 32;
    return 1;
}

/* Every holding valued at its last entry in elems: 1, or 0 to decline. */
static int value_elems(Valuation *v, const Elem *elems, Py_ssize_t count, long long floor)
{
    v->total_value = v->total_haircut = (Num){0, 0};
    v->newest = -1;
    v->need = 96 + 2 * NUM_CHARS + 24;
    for (Py_ssize_t h = 0; h < v->count; h++) {
        const Holding *d = &v->holdings[h];
        const Elem *e = NULL;
        /* The newest occurrence wins, as it would event by event. */
        for (Py_ssize_t k = count - 1; k >= 0; k--) {
            if (elems[k].n[F_s] == d->symbol_n &&
                memcmp(elems[k].v[F_s], d->symbol, (size_t)d->symbol_n) == 0) {
                e = &elems[k];
                break;
            }
        }
        if (e == NULL || !value_row(v, h, e->event_time, floor, e->v[F_i], e->n[F_i], e->v[F_B],
                                    e->n[F_B], e->v[F_A], e->n[F_A]))
            return 0;
    }
    return v->total_value.scale <= NUM_CHARS - 8 && v->total_haircut.scale <= NUM_CHARS - 8;
}

static char *put_collateral(char *w, const Valuation *v)
{
    static const char head[] = "{\"type\":\"collateral\",\"event_time\":";
    w = put(w, head, (Py_ssize_t)(sizeof head - 1));
    w = put_num(w, (Num){v->newest, 0});
    w = put(w, ",\"assets\":[", 11);
    for (Py_ssize_t h = 0; h < v->count; h++) {
        const Row *r = &v->rows[h];
        if (h)
            *w++ = ',';
        w = put(w, v->holdings[h].prefix, v->holdings[h].prefix_n);
        w = put(w, r->index, r->index_n);
        w = put(w, ",\"rate\":", 8);
        w = put(w, r->rate, r->rate_n);
        w = put(w, ",\"value\":", 9);
        w = put_num(w, r->value);
        w = put(w, ",\"haircut\":", 11);
        w = put_num(w, r->haircut);
        *w++ = '}';
    }
    w = put(w, "],\"total_value\":", 16);
    w = put_num(w, v->total_value);
    w = put(w, ",\"total_haircut\":", 17);
    w = put_num(w, v->total_haircut);
    return put(w, "}\n", 2);
}

/* One frame into its lines. With holdings (valued: the six-item shape), v
 * holds them, or is NULL when they were declined; the lines then end with the
 * collateral line whenever the frame could be valued. */
static PyObject *encode(PyObject *arg, int recorded, int valued, Valuation *v, long long floor)
{
    const char *buf;
    Py_ssize_t size;
    if (PyUnicode_Check(arg)) {
        buf = PyUnicode_AsUTF8AndSize(arg, &size);
        if (buf == NULL) {
            /* Not encodable (a lone surrogate): the Python path judges it. */
            PyErr_Clear();
            Py_RETURN_NONE;
        }
    }
    else if (PyBytes_Check(arg)) {
        buf = PyBytes_AS_STRING(arg);
        size = PyBytes_GET_SIZE(arg);
    }
    else {
        Py_RETURN_NONE;
    }

    Cur c = {buf, buf + size};
    Elem stack_elems[32];
    Elem *elems = stack_elems;
    Py_ssize_t count = 0, capacity = 32;
    const char *stream = NULL;
    Py_ssize_t stream_len = 0;
    int have_data = 0, have_recv_time = 0;
    PyObject *result = NULL;

    if (!take(&c, '{'))
        goto decline;
    for (;;) {
        const char *key;
        Py_ssize_t klen;
        if (!plain_string(&c, &key, &klen) || !take(&c, ':'))
            goto decline;
        if (klen == 6 && memcmp(key, "stream", 6) == 0 && stream == NULL) {
            if (!plain_string(&c, &stream, &stream_len))
                goto decline;
        }
        else if (klen == 4 && memcmp(key, "data", 4) == 0 && !have_data) {
            have_data = 1;
            skip_ws(&c);
            int array = take(&c, '[');
            for (;;) {
                if (count == capacity) {
                    Py_ssize_t grown = capacity > PY_SSIZE_T_MAX / 2 ? PY_SSIZE_T_MAX : capacity * 2;
                    /* PyMem_New refuses a size that overflows: NULL, as for no memory. */
                    Elem *bigger = PyMem_New(Elem, (size_t)grown);
                    if (bigger == NULL) {
                        PyErr_NoMemory();
                        goto done;
                    }
                    memcpy(bigger, elems, sizeof(Elem) * (size_t)count);
                    if (elems != stack_elems)
                        PyMem_Free(elems);
                    elems = bigger;
                    capacity = grown;
                }
                if (!parse_elem(&c, &elems[count]))
                    goto decline;
                count++;
                if (!array)
                    break;
                if (take(&c, ','))
                    continue;
                if (take(&c, ']'))
                    break;
                goto decline;
            }
        }
        else if (recorded && klen == 9 && memcmp(key, "recv_time", 9) == 0 && !have_recv_time) {
            /* A recording line is an envelope with its receive time. */
            const char *digits;
            Py_ssize_t ndigits;
            long long recv_time;
            if (!plain_integer(&c, &digits, &ndigits, &recv_time))
                goto decline;
            have_recv_time = 1;
        }
        else {
            goto decline;
        }
        if (take(&c, ','))
            continue;
        if (take(&c, '}'))
            break;
        goto decline;
    }
    skip_ws(&c);
    if (c.p != c.end || stream == NULL || count == 0)
        goto decline;
    if (recorded && (!have_recv_time || !asset_index_stream(stream, stream_len)))
        goto decline;

    {
        /* Summed with a check at every step, so that it cannot wrap (a line
           too long to build is declined: the Python path judges it). */
        Py_ssize_t total = 0;
        for (Py_ssize_t k = 0; k < count; k++) {
            if (total > PY_SSIZE_T_MAX - pieces_total)
                goto decline;
            total += pieces_total;
            for (int j = 0; j < 11; j++) {
                Py_ssize_t n = elems[k].n[ORDER[j]];
                if (total > PY_SSIZE_T_MAX - n)
                    goto decline;
                total += n;
            }
        }
        int with_line = v != NULL && value_elems(v, elems, count, floor);
        if (with_line) {
            if (total > PY_SSIZE_T_MAX - v->need)
                with_line = 0;
            else
                total += v->need;
        }
        PyObject *out = PyBytes_FromStringAndSize(NULL, total);
        if (out == NULL)
            goto done;
        char *start = PyBytes_AS_STRING(out), *w = start;
        for (Py_ssize_t k = 0; k < count; k++) {
            for (int j = 0; j < 11; j++) {
                memcpy(w, PIECES[j], (size_t)piece_len[j]);
                w += piece_len[j];
                int f = ORDER[j];
                memcpy(w, elems[k].v[f], (size_t)elems[k].n[f]);
                w += elems[k].n[f];
            }
            memcpy(w, PIECES[11], (size_t)piece_len[11]);
            w += piece_len[11];
        }
        if (with_line) {
            /* The bound is a few hundred bytes over: shrinking is cheap. */
            w = put_collateral(w, v);
            if (_PyBytes_Resize(&out, w - start) < 0)
                goto done;
        }
        PyObject *name = PyUnicode_DecodeUTF8(stream, stream_len, NULL);
        if (name == NULL) {
            /* Not valid UTF-8: let the Python path judge the frame. */
            PyErr_Clear();
            Py_DECREF(out);
            goto decline;
        }
        if (!valued) {
            result = Py_BuildValue(
                "(NnLLN)", out, count, elems[0].event_time, elems[count - 1].event_time, name);
        }
        else {
            PyObject *newest = with_line ? PyLong_FromLongLong(v->newest) : Py_None;
            if (newest == NULL) {
                Py_DECREF(out);
                Py_DECREF(name);
                goto done;
            }
            if (!with_line)
                Py_INCREF(newest);
            result = Py_BuildValue("(NnLLNN)", out, count, elems[0].event_time,
                                   elems[count - 1].event_time, name, newest);
        }
    }

    goto done;

decline:
    result = Py_None;
    Py_INCREF(result);

done:
    if (elems != stack_elems)
        PyMem_Free(elems);
    return result;
}

static PyObject *asset_index_lines(PyObject *self, PyObject *arg)
{
    return encode(arg, 0, 0, NULL, 0);
}

static PyObject *recorded_asset_index_lines(PyObject *self, PyObject *arg)
{
    return encode(arg, 1, 0, NULL, 0);
}

static PyObject *valued_lines(PyObject *const *args, Py_ssize_t nargs, int recorded)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "takes (message, holdings, floor)");
        return NULL;
    }
    long long floor = PyLong_AsLongLong(args[2]);
    if (floor == -1 && PyErr_Occurred())
        return NULL;
    Valuation v;
    int loaded = load_holdings(args[1], &v);
    if (loaded < 0)
        return NULL;
    return encode(args[0], recorded, 1, loaded ? &v : NULL, floor);
}

static PyObject *valued_asset_index_lines(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return valued_lines(args, nargs, 0);
}

static PyObject *valued_recorded_asset_index_lines(PyObject *self, PyObject *const *args,
                                                   Py_ssize_t nargs)
{
    return valued_lines(args, nargs, 1);
}

static PyMethodDef methods[] = {
    {"asset_index_lines", asset_index_lines, METH_O,
     "asset_index_lines(message) -> (lines, count, first_E, last_E, stream) or None"},
    {"recorded_asset_index_lines", recorded_asset_index_lines, METH_O,
     "recorded_asset_index_lines(line) -> (lines, count, first_E, last_E, stream) or None"},
    {"valued_asset_index_lines", (PyCFunction)(void (*)(void))valued_asset_index_lines,
     METH_FASTCALL,
     "valued_asset_index_lines(message, holdings, floor) -> "
     "(lines, count, first_E, last_E, stream, newest held E or None) or None"},
    {"valued_recorded_asset_index_lines",
     (PyCFunction)(void (*)(void))valued_recorded_asset_index_lines, METH_FASTCALL,
     "valued_recorded_asset_index_lines(line, holdings, floor) -> "
     "(lines, count, first_E, last_E, stream, newest held E or None) or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "binmon._speedups", "The asset index hot path in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    fill_pow10();
    pieces_total = 0;
    for (int j = 0; j < 12; j++) {
        piece_len[j] = (Py_ssize_t)strlen(PIECES[j]);
        pieces_total += piece_len[j];
    }
    return PyModule_Create(&module);
}
