/*
 * place.c - offsets for buffers with lifetimes (kn_interval_place), shared
 * by the memory planner (passes/memplan.c) and the oneDNN backend's arena
 * of blocked copies and scratchpads.
 *
 * Each item, in the given order, goes at the lowest offset (or into the
 * smallest gap, best fit) free of every placed item whose life overlaps its
 * own. The placed items that overlap [s, e] are those whose life contains s
 * (a stabbing query on a segment tree over the steps, each item stored at
 * its O(log steps) canonical nodes) and those that start in (s, e] (a list
 * per start step); the two sets are disjoint. So an item costs the number of
 * items it overlaps (sorted by offset) plus its life in steps, instead of
 * every item placed so far: a chain of 200,000 convolutions plans in
 * linear time (issue 15).
 */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct kn_place_entry {
    int item, next;
} kn_place_entry;

typedef struct kn_place_state {
    kn_place_entry *pool;
    int used, cap;
} kn_place_state;

int kn_cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

/* The compressed step of t among coord[0..n) (sorted, distinct, t present). */
static int kn_place_coord(const int64_t *coord, int n, int64_t t)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (coord[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool kn_place_push(kn_place_state *st, int *head, int item)
{
    if (st->used == st->cap) {
        int cap = st->cap ? st->cap * 2 : 256;
        kn_place_entry *p = cap > st->cap ? realloc(st->pool, sizeof *p * (size_t)cap) : NULL;
        if (!p)
            return false;
        st->pool = p;
        st->cap = cap;
    }
    st->pool[st->used] = (kn_place_entry){item, *head};
    *head = st->used++;
    return true;
}

/* Candidates sorted by offset, then index (qsort has no context: the offsets travel with the ids). */
typedef struct kn_place_cand {
    size_t off;
    int item;
} kn_place_cand;

static int kn_place_cand_cmp(const void *pa, const void *pb)
{
    const kn_place_cand *a = pa, *b = pb;
    if (a->off != b->off)
        return a->off < b->off ? -1 : 1;
    return (a->item > b->item) - (a->item < b->item);
}

kn_status kn_interval_place(const kn_interval *items, int count, const int *order, int norder, bool best_fit,
                            size_t *offs, size_t *peak, kn_error *err)
{
    *peak = 0;
    for (int i = 0; i < count; i++)
        offs[i] = 0;
    kn_status st = KN_OK;
    int64_t *coord = malloc(sizeof *coord * (size_t)(2 * norder + 1));
    kn_place_cand *cand = malloc(sizeof *cand * (size_t)(norder + 1));
    int *tree = NULL, *starts = NULL;
    kn_place_state ps = {0};
    if (!coord || !cand) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory placing %d buffers", norder);
        goto done;
    }
    int n = 0;
    for (int k = 0; k < norder; k++) {
        const kn_interval *x = &items[order[k]];
        if (x->size == 0)
            continue;
        if (x->last < x->first) {
            st = kn_error_set(err, KN_ERR_INVALID_ARG, "buffer %d lives from step %lld to %lld", order[k],
                              (long long)x->first, (long long)x->last);
            goto done;
        }
        coord[n++] = x->first;
        coord[n++] = x->last;
    }
    qsort(coord, (size_t)n, sizeof *coord, kn_cmp_i64);
    int steps = 0;
    for (int k = 0; k < n; k++)
        if (steps == 0 || coord[steps - 1] != coord[k])
            coord[steps++] = coord[k];
    int leaves = 1;
    while (leaves < steps)
        leaves *= 2;
    tree = malloc(sizeof *tree * (size_t)(2 * leaves));
    starts = malloc(sizeof *starts * (size_t)(steps + 1));
    if (!tree || !starts) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory placing %d buffers", norder);
        goto done;
    }
    for (int k = 0; k < 2 * leaves; k++)
        tree[k] = -1;
    for (int k = 0; k <= steps; k++)
        starts[k] = -1;
    for (int k = 0; k < norder; k++) {
        const int i = order[k];
        const kn_interval *x = &items[i];
        if (x->size == 0)
            continue;
        const int s = kn_place_coord(coord, steps, x->first), e = kn_place_coord(coord, steps, x->last);
        int nc = 0;
        for (int node = s + leaves; node >= 1; node >>= 1) /* placed items whose life contains s */
            for (int en = tree[node]; en >= 0; en = ps.pool[en].next)
                cand[nc++] = (kn_place_cand){offs[ps.pool[en].item], ps.pool[en].item};
        for (int t = s + 1; t <= e; t++) /* and those that start later within x's life */
            for (int en = starts[t]; en >= 0; en = ps.pool[en].next)
                cand[nc++] = (kn_place_cand){offs[ps.pool[en].item], ps.pool[en].item};
        qsort(cand, (size_t)nc, sizeof *cand, kn_place_cand_cmp);
        size_t cursor = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
        for (int c = 0; c < nc; c++) {
            const size_t yo = cand[c].off, ysize = items[cand[c].item].size;
            if (yo > cursor && yo - cursor >= x->size && yo - cursor < best_gap) {
                best_gap = yo - cursor;
                best = cursor;
                if (!best_fit)
                    break;
            }
            if (yo + ysize > cursor) /* placed ends never overflow: each is at most the peak so far */
                cursor = yo + ysize;
        }
        if (best == SIZE_MAX)
            best = cursor;
        if (best > SIZE_MAX - x->size) {
            st = kn_error_set(err, KN_ERR_OVERFLOW, "the buffers do not fit in memory");
            goto done;
        }
        offs[i] = best;
        if (best + x->size > *peak)
            *peak = best + x->size;
        /* x among the placed: at its canonical tree nodes, and at its start step */
        bool ok = kn_place_push(&ps, &starts[s], i);
        for (int lo = s + leaves, hi = e + leaves + 1; ok && lo < hi; lo >>= 1, hi >>= 1) {
            if (lo & 1)
                ok = kn_place_push(&ps, &tree[lo++], i);
            if (ok && (hi & 1))
                ok = kn_place_push(&ps, &tree[--hi], i);
        }
        if (!ok) {
            st = kn_error_set(err, KN_ERR_NOMEM, "out of memory placing %d buffers", norder);
            goto done;
        }
    }
done:
    free(coord);
    free(cand);
    free(tree);
    free(starts);
    free(ps.pool);
    return st;
}
