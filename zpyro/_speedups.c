/* zpyro's optional accelerator: a whole multipart message sent or received in one C call.
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

/* recv_frames(sock, flags=0) -> list of bytes: one whole message. zmq.Again when nothing came
 * (NOBLOCK, or RCVTIMEO passed); the GIL is released while libzmq waits. */
static PyObject *recv_frames(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "recv_frames(sock, flags=0)");
        return NULL;
    }
    PyObject *sock = args[0];
    int flags = 0;
    if (nargs == 2) {
        flags = (int)PyLong_AsLong(args[1]);
        if (flags == -1 && PyErr_Occurred())
            return NULL;
    }
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

static PyMethodDef methods[] = {
    {"bind", bind, METH_VARARGS,
     "bind(msg_init, msg_recv, msg_close, msg_data, msg_size, msg_more, send, errno, ZMQError, "
     "Again, fallback): the addresses of libzmq's functions in this process"},
    {"recv_frames", (PyCFunction)(void (*)(void))recv_frames, METH_FASTCALL,
     "recv_frames(sock, flags=0) -> list of bytes"},
    {"send_frames", (PyCFunction)(void (*)(void))send_frames, METH_FASTCALL,
     "send_frames(sock, frames, copy=True, flags=0)"},
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
