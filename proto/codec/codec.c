/* SPDX-License-Identifier: Apache-2.0 */
#include "iot/codec.h"

#include <stdalign.h>
#include <stdbool.h>
#include <string.h>

#include "iot/mem.h"

static void *pb_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return iot_malloc(n);
}

static void pb_free(void *ctx, void *p)
{
    (void)ctx;
    iot_free(p);
}

ProtobufCAllocator *iot_pb_allocator(void)
{
    static ProtobufCAllocator a = {pb_alloc, pb_free, NULL};
    return &a;
}

/* ---- decode arena ---- */

#define ARENA_BLOCK 65536u
#define ARENA_BIG (ARENA_BLOCK / 4) /* larger allocations get a block of their own */

struct iot_pb_block {
    struct iot_pb_block *next;
    size_t size; /* usable bytes in data */
    alignas(max_align_t) unsigned char data[];
};

static void *arena_alloc(void *ctx, size_t n)
{
    struct iot_pb_arena *a = ctx;
    const size_t align = alignof(max_align_t);
    n = n ? (n + align - 1) & ~(align - 1) : align;
    bool big = n > ARENA_BIG;
    if (!big && a->blocks && a->used + n <= a->blocks->size) {
        void *p = a->blocks->data + a->used;
        a->used += n;
        return p;
    }
    size_t size = big ? n : ARENA_BLOCK;
    struct iot_pb_block *b = iot_malloc(sizeof *b + size);
    if (!b) {
        a->failed++;
        return NULL;
    }
    b->size = size;
    a->bytes += sizeof *b + size;
    if (big && a->blocks) { /* behind the head, which keeps filling */
        b->next = a->blocks->next;
        a->blocks->next = b;
    } else {
        b->next = a->blocks;
        a->blocks = b;
        a->used = n;
    }
    return b->data;
}

static void arena_free(void *ctx, void *p)
{
    (void)ctx; /* all at once, by iot_pb_arena_release */
    (void)p;
}

void iot_pb_arena_init(struct iot_pb_arena *a)
{
    memset(a, 0, sizeof *a);
    a->alloc = (ProtobufCAllocator){arena_alloc, arena_free, a};
}

void iot_pb_arena_release(struct iot_pb_arena *a)
{
    for (struct iot_pb_block *b = a->blocks, *next; b; b = next) {
        next = b->next;
        iot_free(b);
    }
    a->blocks = NULL;
    a->used = 0;
    a->bytes = 0;
}
