#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct ArenaBlock {
    ArenaBlock *next;
    size_t size, used;
    unsigned char *mem;
};

#define ARENA_ALIGN 64

void arena_init(Arena *a, size_t block_size) {
    memset(a, 0, sizeof *a);
    a->block_size = block_size ? block_size : ((size_t)16 << 20);
}

void arena_free(Arena *a) {
    ArenaBlock *b = a->head;
    while (b) {
        ArenaBlock *n = b->next;
        free(b->mem);
        free(b);
        b = n;
    }
    memset(a, 0, sizeof *a);
}

static ArenaBlock *new_block(Arena *a, size_t need) {
    ArenaBlock *b = serc_calloc(1, sizeof *b);
    b->size = need > a->block_size ? need : a->block_size;
    b->mem = aligned_alloc(ARENA_ALIGN, (b->size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
    if (!b->mem) serc_die("out of memory: arena block of %zu bytes", b->size);
    a->reserved += b->size;
    a->system_allocs++;
    return b;
}

void *arena_alloc(Arena *a, size_t n) {
    n = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (n == 0) n = ARENA_ALIGN;
    if (!a->head) a->head = a->cur = new_block(a, n);
    /* walk forward through kept blocks before taking a new one */
    while (a->cur->used + n > a->cur->size) {
        if (!a->cur->next) {
            /* no later block fits: grow; the next reset's first block should hold a whole step */
            ArenaBlock *b = new_block(a, n);
            a->cur->next = b;
        }
        a->cur = a->cur->next;
    }
    void *p = a->cur->mem + a->cur->used;
    a->cur->used += n;
    a->used += n;
    if (a->used > a->peak) a->peak = a->used;
    if (a->poison) memset(p, 0xff, n);
    return p;
}

void *arena_calloc(Arena *a, size_t n) {
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

void arena_reset(Arena *a) {
    for (ArenaBlock *b = a->head; b; b = b->next) b->used = 0;
    a->cur = a->head;
    a->used = 0;
}
