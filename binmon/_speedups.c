/*
 * binmon._speedups: the asset index hot path in C.
 *
 * asset_index_lines(message) turns one combined-stream message carrying
 * assetIndexUpdate payloads straight into binmon's JSON lines, validating
 * every decimal as a JSON number and keeping its exact digits.
 * recorded_asset_index_lines(line) does the same for one recording line: the
 * envelope plus "recv_time", which the replay requires, on an asset index
 * stream (the replay routes every other stream elsewhere).
 *
 * Both accept a strict subset of what the Python path accepts and return
 * None for anything else (escapes, unknown fields, odd symbols, whitespace
 * inside values, ...): the caller then takes the pure-Python path, which is
 * the reference. tests/test_speedups.py checks the two agree byte for byte,
 * and fuzz/fuzz_speedups.py keeps looking for an input where they do not.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
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

static PyObject *encode(PyObject *arg, int recorded)
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
        PyObject *out = PyBytes_FromStringAndSize(NULL, total);
        if (out == NULL)
            goto done;
        char *w = PyBytes_AS_STRING(out);
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
        PyObject *name = PyUnicode_DecodeUTF8(stream, stream_len, NULL);
        if (name == NULL) {
            /* Not valid UTF-8: let the Python path judge the frame. */
            PyErr_Clear();
            Py_DECREF(out);
            goto decline;
        }
        result = Py_BuildValue(
            "(NnLLN)", out, count, elems[0].event_time, elems[count - 1].event_time, name);
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
    return encode(arg, 0);
}

static PyObject *recorded_asset_index_lines(PyObject *self, PyObject *arg)
{
    return encode(arg, 1);
}

static PyMethodDef methods[] = {
    {"asset_index_lines", asset_index_lines, METH_O,
     "asset_index_lines(message) -> (lines, count, first_E, last_E, stream) or None"},
    {"recorded_asset_index_lines", recorded_asset_index_lines, METH_O,
     "recorded_asset_index_lines(line) -> (lines, count, first_E, last_E, stream) or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "binmon._speedups", "The asset index hot path in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    pieces_total = 0;
    for (int j = 0; j < 12; j++) {
        piece_len[j] = (Py_ssize_t)strlen(PIECES[j]);
        pieces_total += piece_len[j];
    }
    return PyModule_Create(&module);
}
