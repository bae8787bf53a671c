/* libFuzzer target: train/sernc.c, the readers of outside CSV (labels_consensus.csv and both submission
 * layouts) on the same input. Accepted files must hold what the readers promise: valid class letters,
 * finite attributes, unique FileNames in the labels. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "sernc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size);
    SercErr err;
    SerncLabels l;
    if (sernc_labels_read(path, &l, &err) == 0) {
        for (int i = 0; i < l.n; i++) {
            if (!strchr("NHSAUFDCOX", l.cls[i]) || !isfinite(l.avd[3 * i]) || !isfinite(l.avd[3 * i + 1]) ||
                !isfinite(l.avd[3 * i + 2]) || sernc_labels_find(&l, l.file[i]) != i) {
                fprintf(stderr, "fuzz_sernc: labels row %d breaks the reader's promise\n", i);
                abort();
            }
        }
        sernc_labels_free(&l);
    }
    const SerncTask tasks[2] = {SERNC_CATEGORICAL, SERNC_ATTRIBUTES};
    for (int t = 0; t < 2; t++) {
        SerncSubmission s;
        if (sernc_submission_read(path, tasks[t], &s, &err) != 0) continue;
        for (int i = 0; i < s.n; i++) {
            if (t == 0 && (s.cls[i] < 0 || s.cls[i] >= SERNC_N_CLASSES)) abort();
            if (t == 1 && !(isfinite(s.avd[3 * i]) && isfinite(s.avd[3 * i + 1]) && isfinite(s.avd[3 * i + 2]))) abort();
        }
        sernc_submission_free(&s);
    }
    return 0;
}
