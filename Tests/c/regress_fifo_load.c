/* Regression: rsc_load on a FIFO (named pipe) blocked forever in open(2) waiting for a writer,
 * hanging the caller's thread, instead of failing like other non-regular files. Fixed in
 * Sources/RSC/ModelFile/ModelFileParser.swift (open with O_NONBLOCK): RSC_E_IO "not a regular
 * file". Also checks the other non-files: a directory, a character device, an empty path. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "regress_fifo_load: FAILED: rsc_load blocked on a FIFO\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

static void expect_io(const char *path, const char *words) {
    rsc_model *m = (rsc_model *)&m;
    EXPECT(rsc_load(path, &m) == RSC_E_IO);
    EXPECT(m == NULL);
    EXPECT(strstr(rsc_last_error(), words) != NULL);
}

int main(void) {
    char dir[] = "/tmp/rsc-fifo-XXXXXX", fifo[64];
    if (!mkdtemp(dir)) return 2;
    snprintf(fifo, sizeof fifo, "%s/model.rscm", dir);
    if (mkfifo(fifo, 0600) != 0) return 2;
    signal(SIGALRM, on_alarm);
    alarm(10);
    expect_io(fifo, "not a regular file");
    alarm(0);
    expect_io(dir, "not a regular file");
    expect_io("/dev/null", "not a regular file");
    expect_io("", "cannot open");
    unlink(fifo);
    rmdir(dir);
    if (failures == 0) printf("regress_fifo_load: ok\n");
    return failures != 0;
}
