/* Host harness for the firmware's protocol layer: runs src/protocol.c and src/board.c on this computer
 * behind a pseudo-terminal, so the Python client can be tested against the C side of the wire.
 *
 * It is a protocol test double, not a model runner: it keeps uploaded models in RAM, accepts any
 * flatbuffer with the TFLite identifier "TFL3", reports --ops operators and --arena-used bytes, and
 * "invokes" by timing --ops CRC-32 passes over slices of the model with CLOCK_MONOTONIC (ns ticks). Its
 * input tensor has --input-bytes bytes; its output tensor (--output-bytes) is byte i of the input's
 * CRC-32 (i mod 4) plus i, so the host can check that INPUT and INFER carried the data.
 *
 * Build: gcc -std=c99 -O2 -Wall -Wextra -Werror -Isrc -o host_board host/host_board.c src/protocol.c src/board.c
 * Run:   ./host_board [--ops N] [--arena-used BYTES] [--model-capacity BYTES] [--result-words N]
 *                     [--protocol-version V] [--input-bytes N] [--output-bytes N]
 *        ./host_board --print-input N   (prints the RUN input pattern's first N bytes in hex, then exits)
 * It prints the pseudo-terminal path on the first line of stdout and exits when stdin closes. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "board.h"

#define MAX_MODEL_BYTES (1u << 20)
#define MAX_RESULT_WORDS 8192u
#define MAX_TENSOR_BYTES 4096u

typedef struct {
    int fd;
    uint16_t ops;
    uint32_t arena_used_bytes;
    uint32_t input_bytes;
    uint32_t output_bytes;
    uint32_t model_bytes;
    const uint8_t *model;
} harness;

static uint8_t slot[MAX_MODEL_BYTES];
static uint32_t results[MAX_RESULT_WORDS];
static uint8_t input[MAX_TENSOR_BYTES];
static uint8_t output[MAX_TENSOR_BYTES];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void send_bytes(void *ctx, const uint8_t *data, size_t len) {
    harness *h = (harness *)ctx;
    while (len > 0) {
        ssize_t n = write(h->fd, data, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            perror("host_board: write");
            exit(1);
        }
        data += n;
        len -= (size_t)n;
    }
}

static int slot_erase(void *ctx, uint32_t model_bytes, char *msg) {
    (void)ctx;
    (void)msg;
    memset(slot, 0xFF, model_bytes); /* like erased flash */
    return 0;
}

static int slot_write(void *ctx, uint32_t offset, const uint8_t *data, uint16_t len, char *msg) {
    (void)ctx;
    (void)msg;
    memcpy(slot + offset, data, len);
    return 0;
}

static int slot_finish(void *ctx, const uint8_t **image, char *msg) {
    (void)ctx;
    (void)msg;
    *image = slot;
    return 0;
}

static int model_prepare(void *ctx, const uint8_t *image, uint32_t model_bytes, board_model *model, char *msg) {
    harness *h = (harness *)ctx;
    if (model_bytes < 8 || memcmp(image + 4, "TFL3", 4) != 0) {
        strcpy(msg, "the upload is not a TFLite flatbuffer: file identifier TFL3 missing");
        return PROTO_E_MODEL;
    }
    h->model = image;
    h->model_bytes = model_bytes;
    model->arena_used_bytes = h->arena_used_bytes;
    model->n_ops = h->ops;
    model->input = input;
    model->input_bytes = h->input_bytes;
    model->output = output;
    model->output_bytes = h->output_bytes;
    return 0;
}

static int model_invoke(void *ctx, uint32_t *invoke_ticks, uint32_t *op_ticks, char *msg) {
    harness *h = (harness *)ctx;
    volatile uint32_t sink = 0;
    (void)msg;
    uint64_t start = now_ns();
    for (uint16_t i = 0; i < h->ops; i++) {
        uint32_t begin = h->model_bytes * i / h->ops;
        uint32_t end = h->model_bytes * (i + 1u) / h->ops;
        uint64_t t0 = now_ns();
        sink ^= proto_crc32(0, h->model + begin, end - begin);
        if (op_ticks != 0) {
            op_ticks[i] = (uint32_t)(now_ns() - t0);
        }
    }
    uint32_t crc = proto_crc32(0, input, h->input_bytes);
    for (uint32_t i = 0; i < h->output_bytes; i++) {
        output[i] = (uint8_t)((crc >> (8u * (i % 4u))) + i);
    }
    memset(input, 0, h->input_bytes); /* as TFLM may: the input's memory is reused during an Invoke */
    *invoke_ticks = (uint32_t)(now_ns() - start);
    return 0;
}

static void model_release(void *ctx) { ((harness *)ctx)->model = 0; }

static long arg_value(int argc, char **argv, const char *name, long fallback, long lo, long hi) {
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            char *end = 0;
            long v = strtol(argv[i + 1], &end, 10);
            if (*end != '\0' || v < lo || v > hi) {
                fprintf(stderr, "host_board: %s=%s is not valid: use an integer from %ld to %ld\n", name,
                        argv[i + 1], lo, hi);
                exit(2);
            }
            return v;
        }
    }
    return fallback;
}

static void print_input(long n) {
    static uint8_t pattern[4096];
    board_fill_input(pattern, (size_t)n);
    for (long i = 0; i < n; i++) {
        printf("%02x", pattern[i]);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    harness h = {0};
    long print_n = arg_value(argc, argv, "--print-input", -1, 0, 4096);
    if (print_n >= 0) {
        print_input(print_n);
        return 0;
    }
    h.ops = (uint16_t)arg_value(argc, argv, "--ops", 3, 0, 200);
    h.arena_used_bytes = (uint32_t)arg_value(argc, argv, "--arena-used", 4096, 0, 1L << 30);
    h.input_bytes = (uint32_t)arg_value(argc, argv, "--input-bytes", 600, 1, MAX_TENSOR_BYTES);
    h.output_bytes = (uint32_t)arg_value(argc, argv, "--output-bytes", 6, 1, MAX_TENSOR_BYTES);
    board_identity id = {
        .protocol_version = (uint8_t)arg_value(argc, argv, "--protocol-version", PROTO_VERSION, 1, 255),
        .slot_location = 1,
        .core_clock_hz = 1000000000u,
        .counter_hz = 1000000000u,
        .arena_capacity_bytes = 1u << 20,
        .model_capacity_bytes = (uint32_t)arg_value(argc, argv, "--model-capacity", 262144, 1, MAX_MODEL_BYTES),
        .board = "host-harness",
        .core = "host",
        .tflm_version = "none",
        .kernel_library = "none",
        .compiler = "gcc " __VERSION__,
        .firmware_build = "protocol test double",
        .tick_unit = "ns",
    };
    uint16_t result_words = (uint16_t)arg_value(argc, argv, "--result-words", 2048, 1, MAX_RESULT_WORDS);

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        perror("host_board: posix_openpt");
        return 1;
    }
    const char *path = ptsname(master);
    int slave = open(path, O_RDWR | O_NOCTTY); /* held open so the master never reads EIO */
    struct termios raw;
    if (slave < 0 || tcgetattr(slave, &raw) != 0) {
        perror("host_board: open slave");
        return 1;
    }
    cfmakeraw(&raw);
    tcsetattr(slave, TCSANOW, &raw);
    h.fd = master;

    board_backend be = {&h, send_bytes, slot_erase, slot_write, slot_finish, model_prepare, model_invoke,
                        model_release};
    static board_state b;
    board_init(&b, &id, &be, results, result_words);
    printf("%s\n", path);
    fflush(stdout);

    struct pollfd fds[2] = {{master, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    uint8_t buf[4096];
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("host_board: poll");
            return 1;
        }
        if (fds[1].revents) {
            if (read(STDIN_FILENO, buf, sizeof(buf)) <= 0) {
                return 0; /* the parent closed stdin: done */
            }
        }
        if (fds[0].revents & POLLIN) {
            ssize_t n = read(master, buf, sizeof(buf));
            if (n > 0) {
                board_receive(&b, buf, (size_t)n, (uint32_t)(now_ns() / 1000000u));
            }
        }
    }
}
