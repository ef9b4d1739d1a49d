/*
 * binmon._speedups: the asset index hot path in C.
 *
 * asset_index_lines(message) turns one combined-stream message (or one
 * recording line, which is the same envelope plus "recv_time") carrying
 * assetIndexUpdate payloads straight into binmon's JSON lines, validating
 * every decimal as a JSON number and keeping its exact digits.
 *
 * It accepts a strict subset of what the Python path accepts and returns
 * None for anything else (escapes, unknown fields, odd symbols, whitespace
 * inside values, ...): the caller then takes the pure-Python path, which is
 * the reference. tests/test_speedups.py checks the two agree byte for byte.
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
            /* Non-negative integer without leading zeros, as Python prints it. */
            skip_ws(c);
            const char *start = c->p;
            while (c->p < c->end && is_digit(*c->p))
                c->p++;
            Py_ssize_t len = c->p - start;
            if (len == 0 || len > 18 || (len > 1 && start[0] == '0'))
                return 0;
            if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
                return 0;
            long long value = 0;
            for (Py_ssize_t i = 0; i < len; i++)
                value = value * 10 + (start[i] - '0');
            e->v[F_E] = start;
            e->n[F_E] = len;
            e->event_time = value;
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

static PyObject *asset_index_lines(PyObject *self, PyObject *arg)
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
    int have_data = 0, ok = 0;
    PyObject *result = NULL;

    if (!take(&c, '{'))
        goto fallback;
    for (;;) {
        const char *key;
        Py_ssize_t klen;
        if (!plain_string(&c, &key, &klen) || !take(&c, ':'))
            goto fallback;
        if (klen == 6 && memcmp(key, "stream", 6) == 0 && stream == NULL) {
            if (!plain_string(&c, &stream, &stream_len))
                goto fallback;
        }
        else if (klen == 4 && memcmp(key, "data", 4) == 0 && !have_data) {
            have_data = 1;
            skip_ws(&c);
            int array = take(&c, '[');
            for (;;) {
                if (count == capacity) {
                    Py_ssize_t grown = capacity * 2;
                    Elem *bigger = PyMem_Malloc(sizeof(Elem) * (size_t)grown);
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
                    goto fallback;
                count++;
                if (!array)
                    break;
                if (take(&c, ','))
                    continue;
                if (take(&c, ']'))
                    break;
                goto fallback;
            }
        }
        else if (klen == 9 && memcmp(key, "recv_time", 9) == 0) {
            /* A recording line is an envelope with its receive time. */
            skip_ws(&c);
            const char *start = c.p;
            while (c.p < c.end && is_digit(*c.p))
                c.p++;
            if (c.p == start)
                goto fallback;
        }
        else {
            goto fallback;
        }
        if (take(&c, ','))
            continue;
        if (take(&c, '}'))
            break;
        goto fallback;
    }
    skip_ws(&c);
    if (c.p != c.end || stream == NULL || count == 0)
        goto fallback;
    ok = 1;

fallback:
    if (!ok) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    {
        Py_ssize_t total = pieces_total * count;
        for (Py_ssize_t k = 0; k < count; k++)
            for (int j = 0; j < 11; j++)
                total += elems[k].n[ORDER[j]];
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
            result = Py_None;
            Py_INCREF(result);
            goto done;
        }
        result = Py_BuildValue(
            "(NnLLN)", out, count, elems[0].event_time, elems[count - 1].event_time, name);
    }

done:
    if (elems != stack_elems)
        PyMem_Free(elems);
    return result;
}

static PyMethodDef methods[] = {
    {"asset_index_lines", asset_index_lines, METH_O,
     "asset_index_lines(message) -> (lines, count, first_E, last_E, stream) or None"},
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
