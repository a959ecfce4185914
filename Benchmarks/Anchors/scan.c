/* The lower anchor: the least a replay must do with each line of a `mosquitto_sub -F '%U %t %p'`
 * recording: find the line, the receive time, the topic and each number of the JSON payload
 * (memchr and strtod), and add them up. No hashing, no per-series state, no output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    static char buf[1 << 20];
    size_t have = 0, n;
    long messages = 0, numbers = 0;
    double sum = 0;
    while ((n = fread(buf + have, 1, sizeof buf - have, f)) > 0 || have > 0) {
        have += n;
        char *p = buf, *end = buf + have, *nl;
        while ((nl = memchr(p, '\n', end - p)) != NULL) {
            *nl = 0;
            char *sp = memchr(p, ' ', nl - p);
            if (sp) {
                sum += strtod(p, NULL);
                char *payload = memchr(sp + 1, ' ', nl - sp - 1);
                if (payload) {
                    char *c = payload;
                    while ((c = memchr(c, ':', nl - c)) != NULL) {
                        char *after;
                        double v = strtod(c + 1, &after);
                        if (after != c + 1) { sum += v; numbers++; }
                        c++;
                    }
                }
            }
            messages++;
            p = nl + 1;
        }
        if (n == 0) break;
        have = end - p;
        memmove(buf, p, have);
    }
    printf("%ld %ld %.3f\n", messages, numbers, sum);
    return 0;
}
