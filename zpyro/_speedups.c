/* zpyro's optional accelerator: a whole multipart message sent or received in one C call, and
 * simple serpent documents read in C.
 *
 * What it saves: pyzmq's Python-level socket methods check their option argument through an
 * Enum on every call, so receiving a message frame by frame with a RCVMORE check after each
 * costs ~0.6 µs per frame in pure Python; here it is a few nanoseconds. Used by zpyro.sockets
 * when it imports (pure Python is the fallback, and both are tested by `make test`).
 *
 * No zmq.h is needed to build it, and nothing is linked: pyzmq ships no header, and the process
 * must use the one libzmq pyzmq loaded. zpyro.sockets finds libzmq's functions in that library
 * (ctypes' dlsym on pyzmq's backend module, which searches its dependencies) and hands their
 * addresses to bind(). zmq_msg_t is declared as libzmq 4 declares it: 64 opaque bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    unsigned char _[64];
} __attribute__((aligned(8))) zmq_msg_t;

#define ZMQ_DONTWAIT 1
#define ZMQ_SNDMORE 2

static int (*msg_init)(zmq_msg_t *);
static int (*msg_recv)(zmq_msg_t *, void *, int);
static int (*msg_close)(zmq_msg_t *);
static void *(*msg_data)(zmq_msg_t *);
static size_t (*msg_size)(const zmq_msg_t *);
static int (*msg_more)(const zmq_msg_t *);
static int (*msg_get)(const zmq_msg_t *, int); /* optional (bind_msg_get): recv_noting */
#define ZMQ_SRCFD 2
static int (*zsend)(void *, const void *, size_t, int);
static int (*zerrno)(void);
static PyObject *ZMQError; /* zmq.error.ZMQError */
static PyObject *Again;    /* zmq.error.Again */
static PyObject *fallback; /* send_frames for what this one does not send: pyzmq's way */
static PyObject *s_closed, *s_underlying;

static PyObject *raise_zmq(int err) {
    PyObject *exc = PyObject_CallFunction(err == EAGAIN ? Again : ZMQError, "i", err);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* The libzmq handle of a pyzmq socket; NULL (with ZMQError ENOTSOCK) once it is closed. */
static void *handle_of(PyObject *sock) {
    PyObject *closed = PyObject_GetAttr(sock, s_closed);
    if (closed == NULL)
        return NULL;
    int is_closed = PyObject_IsTrue(closed);
    Py_DECREF(closed);
    if (is_closed) {
        if (is_closed > 0)
            raise_zmq(ENOTSOCK);
        return NULL;
    }
    PyObject *address = PyObject_GetAttr(sock, s_underlying);
    if (address == NULL)
        return NULL;
    void *handle = PyLong_AsVoidPtr(address);
    Py_DECREF(address);
    if (handle == NULL && !PyErr_Occurred())
        raise_zmq(ENOTSOCK);
    return handle;
}

static PyObject *bind(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long a[8];
    if (!PyArg_ParseTuple(args, "KKKKKKKKOOO", &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6],
                          &a[7], &ZMQError, &Again, &fallback))
        return NULL;
    for (int i = 0; i < 8; i++) {
        if (a[i] == 0) {
            PyErr_SetString(PyExc_ValueError, "a libzmq function address is missing");
            return NULL;
        }
    }
    msg_init = (int (*)(zmq_msg_t *))(uintptr_t)a[0];
    msg_recv = (int (*)(zmq_msg_t *, void *, int))(uintptr_t)a[1];
    msg_close = (int (*)(zmq_msg_t *))(uintptr_t)a[2];
    msg_data = (void *(*)(zmq_msg_t *))(uintptr_t)a[3];
    msg_size = (size_t(*)(const zmq_msg_t *))(uintptr_t)a[4];
    msg_more = (int (*)(const zmq_msg_t *))(uintptr_t)a[5];
    zsend = (int (*)(void *, const void *, size_t, int))(uintptr_t)a[6];
    zerrno = (int (*)(void))(uintptr_t)a[7];
    Py_INCREF(ZMQError);
    Py_INCREF(Again);
    Py_INCREF(fallback);
    Py_RETURN_NONE;
}

static PyObject *bind_msg_get(PyObject *Py_UNUSED(self), PyObject *arg) {
    unsigned long long a = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred())
        return NULL;
    if (a == 0) {
        PyErr_SetString(PyExc_ValueError, "zmq_msg_get's address is missing");
        return NULL;
    }
    msg_get = (int (*)(const zmq_msg_t *, int))(uintptr_t)a;
    Py_RETURN_NONE;
}

/* One whole message; with `known` (a dict), *fd is set to the descriptor of the connection it
 * came on (ZMQ_SRCFD, -1 for none) when its first frame is not a key of `known`. */
static PyObject *receive(PyObject *sock, int flags, PyObject *known, int *fd) {
    if (msg_recv == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "zpyro._speedups is not bound to libzmq");
        return NULL;
    }
    void *handle = handle_of(sock);
    if (handle == NULL)
        return NULL;
    PyObject *frames = PyList_New(0);
    if (frames == NULL)
        return NULL;
    int more = 1;
    while (more) {
        zmq_msg_t msg;
        int rc;
        msg_init(&msg);
        if (PyList_GET_SIZE(frames) == 0 && !(flags & ZMQ_DONTWAIT)) {
            Py_BEGIN_ALLOW_THREADS rc = msg_recv(&msg, handle, flags);
            Py_END_ALLOW_THREADS
        } else {
            rc = msg_recv(&msg, handle, flags);
        }
        if (rc < 0) {
            int err = zerrno();
            msg_close(&msg);
            if (err == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    goto fail;
                continue; /* the rest of a message is there already: try again */
            }
            raise_zmq(err);
            goto fail;
        }
        PyObject *frame = PyBytes_FromStringAndSize(msg_data(&msg), (Py_ssize_t)msg_size(&msg));
        more = msg_more(&msg);
        if (frame != NULL && known != NULL && PyList_GET_SIZE(frames) == 0) {
            int found = PyDict_Contains(known, frame);
            if (found < 0) {
                Py_DECREF(frame);
                frame = NULL;
            } else if (!found) {
                *fd = -1; /* a new peer: its descriptor is read from the last frame */
            }
        }
        if (!more && *fd == -1)
            *fd = msg_get(&msg, ZMQ_SRCFD);
        msg_close(&msg);
        if (frame == NULL)
            goto fail;
        int appended = PyList_Append(frames, frame);
        Py_DECREF(frame);
        if (appended < 0)
            goto fail;
    }
    return frames;
fail:
    Py_DECREF(frames);
    return NULL;
}

/* recv_frames(sock, flags=0) -> list of bytes: one whole message. zmq.Again when nothing came
 * (NOBLOCK, or RCVTIMEO passed); the GIL is released while libzmq waits. */
static PyObject *recv_frames(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "recv_frames(sock, flags=0)");
        return NULL;
    }
    int flags = 0;
    if (nargs == 2) {
        flags = (int)PyLong_AsLong(args[1]);
        if (flags == -1 && PyErr_Occurred())
            return NULL;
    }
    int fd = -2;
    return receive(args[0], flags, NULL, &fd);
}

/* recv_noting(sock, known, flags) -> (frames, fd): one whole message, and when its peer (first
 * frame) is not a key of `known`, the descriptor of the connection it came on (-1: none, e.g.
 * inproc), else None. For zpyro.peers: a peer's first message tells its connection. */
static PyObject *recv_noting(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "recv_noting(sock, known: dict, flags)");
        return NULL;
    }
    if (msg_get == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "zpyro._speedups: zmq_msg_get is not bound");
        return NULL;
    }
    int flags = (int)PyLong_AsLong(args[2]);
    if (flags == -1 && PyErr_Occurred())
        return NULL;
    int fd = -2;
    PyObject *frames = receive(args[0], flags, args[1], &fd);
    if (frames == NULL)
        return NULL;
    if (fd == -2)
        return Py_BuildValue("(NO)", frames, Py_None);
    return Py_BuildValue("(Ni)", frames, fd < 0 ? -1 : fd);
}

/* send_frames(sock, frames, copy=True, flags=0): a message, copied. A message with a frame that
 * is not bytes, or not to be copied (copy=False: big buffers), goes to the fallback (pyzmq's
 * way). zmq.Again when the first frame cannot go (NOBLOCK): nothing was sent. */
static PyObject *send_frames(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 4) {
        PyErr_SetString(PyExc_TypeError, "send_frames(sock, frames, copy=True, flags=0)");
        return NULL;
    }
    PyObject *sock = args[0], *frames = args[1];
    int copy = nargs > 2 ? PyObject_IsTrue(args[2]) : 1;
    int flags = 0;
    if (copy < 0)
        return NULL;
    if (nargs > 3) {
        flags = (int)PyLong_AsLong(args[3]);
        if (flags == -1 && PyErr_Occurred())
            return NULL;
    }
    if (zsend == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "zpyro._speedups is not bound to libzmq");
        return NULL;
    }
    int ours = copy && PyList_CheckExact(frames) && PyList_GET_SIZE(frames) > 0;
    for (Py_ssize_t i = 0; ours && i < PyList_GET_SIZE(frames); i++)
        ours = PyBytes_CheckExact(PyList_GET_ITEM(frames, i));
    if (!ours)
        return PyObject_Vectorcall(fallback, args, (size_t)nargs, NULL);
    Py_ssize_t n = PyList_GET_SIZE(frames);
    void *handle = handle_of(sock);
    if (handle == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *frame = PyList_GET_ITEM(frames, i);
        int f = i < n - 1 ? flags | ZMQ_SNDMORE : flags;
        int rc;
        for (;;) {
            if (i > 0 || (flags & ZMQ_DONTWAIT)) { /* (once the first frame went, none waits) */
                rc = zsend(handle, PyBytes_AS_STRING(frame), (size_t)PyBytes_GET_SIZE(frame), f);
            } else {
                Py_BEGIN_ALLOW_THREADS rc =
                    zsend(handle, PyBytes_AS_STRING(frame), (size_t)PyBytes_GET_SIZE(frame), f);
                Py_END_ALLOW_THREADS
            }
            if (rc >= 0)
                break;
            int err = zerrno();
            if (err == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    return NULL;
                continue;
            }
            return raise_zmq(err);
        }
    }
    Py_RETURN_NONE;
}


/* ---- serpent text: zpyro.serpent_text.fast_loads in C ---------------------------------------
 *
 * serpent_loads(payload: bytes) reads what fast_loads reads -- a strict subset of the Python
 * literal syntax, for which it gives exactly what ast.literal_eval gives -- and returns
 * NotImplemented for anything else (then the Python reader, or serpent itself, decides). Errors
 * that literal_eval would raise too (an unhashable key, an int too long) are raised as they are.
 * The rules follow serpent_text.py token by token; tests/test_fastpaths.py holds both readers
 * to literal_eval.
 */

#define MAX_DEPTH 100
enum { K_UNKNOWN, K_DICT, K_SET };
enum { S_VALUE, S_VALUE_OR_CLOSE, S_AFTER_VALUE };

typedef struct {
    char opener;
    int comma;
    int kind;
    PyObject *items; /* list */
} frame_t;

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_name_char(unsigned char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* The end of a number token at p (int or float), per _INT/_FLOAT and _NUMBER_END; NULL if none.
 * *is_float tells which. */
static const char *number_end(const char *p, const char *end, int *is_float) {
    const char *q = p;
    if (q < end && *q == '-')
        q++;
    const char *digits = q;
    while (q < end && is_digit((unsigned char)*q))
        q++;
    size_t nd = (size_t)(q - digits);
    int flt = 0;
    if (q < end && *q == '.') { /* D+ . D*  or  . D+ */
        const char *frac = ++q;
        while (q < end && is_digit((unsigned char)*q))
            q++;
        if (nd == 0 && q == frac)
            return NULL;
        flt = 1;
    } else if (nd == 0) {
        return NULL;
    }
    if (q < end && (*q == 'e' || *q == 'E')) { /* an exponent: only on a float, or D+ e D+ */
        const char *e = q + 1;
        if (e < end && (*e == '+' || *e == '-'))
            e++;
        const char *exp = e;
        while (e < end && is_digit((unsigned char)*e))
            e++;
        if (e == exp)
            return NULL; /* "1e", "1e-": no number (and 'e' after it is no end) */
        q = e;
        flt = 1;
    }
    if (!flt && nd > 1 && *digits == '0')
        return NULL; /* 01: not an int, not a float */
    if (q < end && (is_name_char((unsigned char)*q) || *q == '.'))
        return NULL;
    *is_float = flt;
    return q;
}

static PyObject *number(const char *p, const char *q, int is_float) {
    char buf[64];
    size_t n = (size_t)(q - p);
    char *text = n < sizeof buf ? buf : PyMem_Malloc(n + 1);
    if (text == NULL)
        return PyErr_NoMemory();
    memcpy(text, p, n);
    text[n] = 0;
    PyObject *value;
    if (is_float) {
        double d = PyOS_string_to_double(text, NULL, NULL);
        value = (d == -1.0 && PyErr_Occurred()) ? NULL : PyFloat_FromDouble(d);
    } else {
        value = PyLong_FromString(text, NULL, 10);
    }
    if (text != buf)
        PyMem_Free(text);
    return value;
}

/* A container just closed: its value (frame's items consumed). NotImplemented: not simple. */
static PyObject *closed_value(frame_t *f) {
    PyObject *items = f->items;
    Py_ssize_t n = PyList_GET_SIZE(items);
    if (f->opener == '[') {
        Py_INCREF(items);
        return items;
    }
    if (f->opener == '(') {
        if (f->comma || n == 0)
            return PyList_AsTuple(items);
        PyObject *only = PyList_GET_ITEM(items, 0); /* (x) is x */
        Py_INCREF(only);
        return only;
    }
    if (f->kind == K_DICT) {
        if (n % 2)
            Py_RETURN_NOTIMPLEMENTED;
        PyObject *d = PyDict_New();
        for (Py_ssize_t i = 0; d != NULL && i < n; i += 2) {
            if (PyDict_SetItem(d, PyList_GET_ITEM(items, i), PyList_GET_ITEM(items, i + 1)) < 0)
                Py_CLEAR(d);
        }
        return d;
    }
    if (n == 0)
        return PyDict_New(); /* {} */
    return PySet_New(items);
}

static PyObject *serpent_loads(PyObject *Py_UNUSED(self), PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "serpent_loads takes bytes");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(arg);
    const char *end = p + PyBytes_GET_SIZE(arg);
    if (p < end && *p == '#') { /* the header: ASCII (the document is UTF-8), no CR, no NUL */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            Py_RETURN_NOTIMPLEMENTED;
        for (const char *c = p; c < nl; c++) {
            if (*c == '\r' || *c == 0 || (unsigned char)*c >= 0x80)
                Py_RETURN_NOTIMPLEMENTED;
        }
        p = nl + 1;
        if (p < end && (*p == ' ' || *p == '\t'))
            Py_RETURN_NOTIMPLEMENTED; /* an indented line after the header: Python refuses it */
    }
    if (memchr(p, '\n', (size_t)(end - p)) != NULL)
        Py_RETURN_NOTIMPLEMENTED;
    frame_t stack[MAX_DEPTH];
    int depth = 0;
    PyObject *top = NULL, *value = NULL;
    int state = S_VALUE;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p >= end)
            break;
        unsigned char c = (unsigned char)*p;
        value = NULL;
        if (c == '[' || c == '(' || c == '{') {
            if (state == S_AFTER_VALUE || depth >= MAX_DEPTH)
                goto not_simple;
            PyObject *items = PyList_New(0);
            if (items == NULL)
                goto fail;
            stack[depth++] = (frame_t){(char)c, 0, K_UNKNOWN, items};
            state = S_VALUE_OR_CLOSE;
            p++;
            continue;
        }
        if (c == ',' || c == ':' || c == ']' || c == ')' || c == '}') {
            if (depth == 0)
                goto not_simple;
            frame_t *f = &stack[depth - 1];
            Py_ssize_t count = PyList_GET_SIZE(f->items);
            p++;
            if (c == ',') {
                if (state != S_AFTER_VALUE)
                    goto not_simple;
                if (f->opener == '{') {
                    if (f->kind == K_UNKNOWN)
                        f->kind = K_SET;
                    else if (f->kind == K_DICT && count % 2)
                        goto not_simple;
                }
                f->comma = 1;
                state = S_VALUE_OR_CLOSE;
                continue;
            }
            if (c == ':') {
                if (state != S_AFTER_VALUE || f->opener != '{')
                    goto not_simple;
                if (f->kind == K_UNKNOWN && count == 1)
                    f->kind = K_DICT;
                else if (f->kind != K_DICT || !(count % 2))
                    goto not_simple;
                state = S_VALUE;
                continue;
            }
            char want = c == ']' ? '[' : c == ')' ? '(' : '{';
            if (state == S_VALUE || f->opener != want)
                goto not_simple;
            value = closed_value(f);
            Py_DECREF(f->items);
            depth--;
            if (value == NULL)
                goto fail;
            if (value == Py_NotImplemented) {
                Py_DECREF(value);
                goto not_simple;
            }
        } else if (state == S_AFTER_VALUE) {
            goto not_simple;
        } else if (c == '-' || c == '.' || is_digit(c)) {
            int is_float = 0;
            const char *q = number_end(p, end, &is_float);
            if (q == NULL)
                goto not_simple;
            value = number(p, q, is_float);
            if (value == NULL)
                goto fail;
            p = q;
        } else if (c == '\'' || c == '"') {
            const char *q = p + 1;
            while (q < end && *q != (char)c) {
                unsigned char b = (unsigned char)*q;
                if (b == '\\' || (b < 0x20 && b != '\t') || b == 0x7f)
                    goto not_simple;
                q++;
            }
            if (q >= end)
                goto not_simple;
            value = PyUnicode_DecodeUTF8(p + 1, q - p - 1, NULL);
            if (value == NULL) { /* not UTF-8: the Python reader and serpent say what is wrong */
                PyErr_Clear();
                goto not_simple;
            }
            p = q + 1;
        } else if (c == 'b' && p + 1 < end && (p[1] == '\'' || p[1] == '"')) {
            char quote = p[1];
            const char *q = p + 2;
            while (q < end && *q != quote) {
                unsigned char b = (unsigned char)*q;
                if (b == '\\' || b > 0x7e || (b < 0x20 && b != '\t'))
                    goto not_simple;
                q++;
            }
            if (q >= end)
                goto not_simple;
            value = PyBytes_FromStringAndSize(p + 2, q - p - 2);
            if (value == NULL)
                goto fail;
            p = q + 1;
        } else {
            static const struct { const char *word; size_t len; } words[] = {
                {"True", 4}, {"False", 5}, {"None", 4}};
            int found = -1;
            for (int w = 0; w < 3; w++) {
                size_t len = words[w].len;
                if ((size_t)(end - p) >= len && memcmp(p, words[w].word, len) == 0 &&
                    (p + len == end || !is_name_char((unsigned char)p[len]))) {
                    found = w;
                    p += len;
                    break;
                }
            }
            if (found < 0)
                goto not_simple;
            value = found == 0 ? Py_True : found == 1 ? Py_False : Py_None;
            Py_INCREF(value);
        }
        /* a value: into the open container, or the document's */
        if (depth == 0) {
            if (top != NULL) {
                Py_DECREF(value);
                goto not_simple;
            }
            top = value;
        } else {
            int appended = PyList_Append(stack[depth - 1].items, value);
            Py_DECREF(value);
            if (appended < 0)
                goto fail;
        }
        state = S_AFTER_VALUE;
    }
    if (depth == 0 && top != NULL)
        return top;
not_simple:
    while (depth > 0)
        Py_DECREF(stack[--depth].items);
    Py_XDECREF(top);
    Py_RETURN_NOTIMPLEMENTED;
fail:
    while (depth > 0)
        Py_DECREF(stack[--depth].items);
    Py_XDECREF(top);
    return NULL;
}

static PyMethodDef methods[] = {
    {"bind", bind, METH_VARARGS,
     "bind(msg_init, msg_recv, msg_close, msg_data, msg_size, msg_more, send, errno, ZMQError, "
     "Again, fallback): the addresses of libzmq's functions in this process"},
    {"recv_frames", (PyCFunction)(void (*)(void))recv_frames, METH_FASTCALL,
     "recv_frames(sock, flags=0) -> list of bytes"},
    {"bind_msg_get", bind_msg_get, METH_O, "bind_msg_get(address of zmq_msg_get)"},
    {"recv_noting", (PyCFunction)(void (*)(void))recv_noting, METH_FASTCALL,
     "recv_noting(sock, known, flags) -> (frames, fd or None)"},
    {"send_frames", (PyCFunction)(void (*)(void))send_frames, METH_FASTCALL,
     "send_frames(sock, frames, copy=True, flags=0)"},
    {"serpent_loads", serpent_loads, METH_O,
     "serpent_loads(payload) -> the value, or NotImplemented for text outside the simple subset"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "zpyro._speedups",
    .m_doc = "zpyro's optional accelerator: whole messages sent and received in C",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    s_closed = PyUnicode_InternFromString("_closed");
    s_underlying = PyUnicode_InternFromString("underlying");
    if (s_closed == NULL || s_underlying == NULL)
        return NULL;
    return PyModule_Create(&module);
}
