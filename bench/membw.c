/* Memory bandwidth of this machine as decoding sees it: how many bytes per second the given
 * number of threads can stream from memory. Decoding one token reads every weight once, so
 * read bandwidth / bytes of weights per token bounds decode tokens per second.
 *
 * Two kernels over arrays far larger than the caches, best of several passes:
 *   read: a sum over one array (bytes read), what a matrix-vector product does with weights;
 *   copy: b[i] = a[i] (bytes read + bytes written), the STREAM "copy" figure.
 *
 * build: gcc -O3 -march=native -fopenmp bench/membw.c -o membw; run: OMP_NUM_THREADS=2 ./membw
 * prints one JSON line: {"threads":2,"read_gb_s":…,"copy_gb_s":…,"bytes":…}
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 512;
    int passes = argc > 2 ? atoi(argv[2]) : 7;
    size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *a = aligned_alloc(64, n * sizeof(uint64_t));
    uint64_t *b = aligned_alloc(64, n * sizeof(uint64_t));
    if (!a || !b) {
        fprintf(stderr, "cannot allocate 2 x %zu MiB\n", mib);
        return 1;
    }
    /* Touched by the threads that will read them, so pages land where those threads run. */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        a[i] = i & 1023;
        b[i] = 0;
    }
    double best_read = 1e30, best_copy = 1e30;
    uint64_t sink = 0;
    for (int p = 0; p < passes; p++) {
        double t0 = now();
        uint64_t s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
        for (size_t i = 0; i < n; i++) s += a[i];
        double t1 = now();
        sink += s;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) b[i] = a[i];
        double t2 = now();
        sink += b[n / 2];
        if (t1 - t0 < best_read) best_read = t1 - t0;
        if (t2 - t1 < best_copy) best_copy = t2 - t1;
    }
    /* Integer sums, so the compiler may vectorise the reduction: a floating-point one would be
     * bound by the adder's latency, not by memory. */
    double bytes = (double)n * sizeof(uint64_t);
    printf("{\"threads\":%d,\"read_gb_s\":%.2f,\"copy_gb_s\":%.2f,\"bytes\":%.0f,\"check\":%.0f}\n",
           omp_get_max_threads(), bytes / best_read / 1e9, 2 * bytes / best_copy / 1e9, bytes, sink > 0 ? 1.0 : 0.0);
    free(a);
    free(b);
    return 0;
}
