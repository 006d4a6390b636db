/*
 * info_memory.c - `kiln info --memory`: a memory plan's totals and its
 * lifetime chart, as text (100 columns) and as an SVG picture.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "image.h" /* kn_xml_text */
#include "ir.h"    /* kn_bytes_str */

/* Text chart: 2 + name 16 + 1 + size 9 + 1 + offset 9 + 2 = 40 columns, then the bars: 100 in all. */
#define KN_CHART_WIDTH 60
#define KN_CHART_NAME 16

const char *kn_cli_bytes(size_t bytes, char *buf, size_t len)
{
    return kn_bytes_str(bytes, buf, len);
}

/* Step at which the most bytes are live (an in-place buffer counts from the step after it starts). */
static int kn_mem_peak_step(const kn_memory_plan *p, size_t *live_at_peak)
{
    int best = 0;
    size_t best_bytes = 0;
    for (int s = 0; s < p->num_steps; s++) {
        size_t live = 0;
        for (int i = 0; i < p->num_buffers; i++) {
            const kn_memory_buffer *b = &p->buffers[i];
            int first = b->first + (b->reuses >= 0 ? 1 : 0);
            if (first <= s && s <= b->last)
                live += (b->size + 63) & ~(size_t)63;
        }
        if (live > best_bytes) {
            best_bytes = live;
            best = s;
        }
    }
    *live_at_peak = best_bytes;
    return best;
}

/* Column of step s in a chart of `width` columns over `steps` steps. */
static int kn_mem_col(int s, int steps, int width)
{
    if (steps <= width)
        return s;
    return (int)((int64_t)s * width / steps);
}

void kn_cli_print_memory_plan(const kn_memory_plan *p)
{
    char a[32], b[32], c[32];
    printf("memory plan at batch %lld (%d buffers over %d steps):\n", (long long)p->batch, p->num_buffers,
           p->num_steps);
    printf("  arena (planned peak)  %12s  %s bytes\n", kn_cli_bytes(p->arena_bytes, a, sizeof a),
           kn_cli_grouped((int64_t)p->arena_bytes, b, sizeof b));
    printf("  lower bound           %12s  %s bytes (most bytes live at one step)\n",
           kn_cli_bytes(p->bound_bytes, a, sizeof a), kn_cli_grouped((int64_t)p->bound_bytes, b, sizeof b));
    printf("  naive sum             %12s  %s bytes (every tensor its own buffer)\n",
           kn_cli_bytes(p->naive_bytes, a, sizeof a), kn_cli_grouped((int64_t)p->naive_bytes, b, sizeof b));
    int inplace = 0;
    for (int i = 0; i < p->num_buffers; i++)
        inplace += p->buffers[i].reuses >= 0;
    printf("  efficiency            %11.1f%%  (bound / arena)\n",
           p->arena_bytes ? 100.0 * (double)p->bound_bytes / (double)p->arena_bytes : 100.0);
    printf("  placement             %s; %d of %d buffers written in place\n", p->strategy ? p->strategy : "?",
           inplace, p->num_buffers);
    if (p->num_buffers == 0 || p->num_steps == 0)
        return;

    size_t peak_live;
    int peak = kn_mem_peak_step(p, &peak_live);
    int width = p->num_steps < KN_CHART_WIDTH ? p->num_steps : KN_CHART_WIDTH;
    char cols[48];
    if (p->num_steps <= width)
        snprintf(cols, sizeof cols, "one column per step");
    else
        snprintf(cols, sizeof cols, "one column per %.1f steps", (double)p->num_steps / width);
    printf("\nlifetime chart: one row per buffer, %s; '#' live, '=' written\n"
           "over the buffer it takes over in place, '!' the step with the most bytes live:\n",
           cols);
    /* "step N (M live): NAME (Op)", cut at the front of the name to fit 100 columns */
    char head[64];
    int hl = snprintf(head, sizeof head, "step %d (%s live): ", peak, kn_cli_bytes(peak_live, a, sizeof a));
    const char *step = p->step_names[peak];
    size_t room = hl > 0 && hl < 99 ? (size_t)(99 - hl) : 20, sl = strlen(step);
    if (sl > room)
        printf("%s~%s\n\n", head, step + sl - (room - 1));
    else
        printf("%s%s\n\n", head, step);
    char axis[KN_CHART_WIDTH + 16];
    memset(axis, ' ', sizeof axis);
    axis[width] = '\0';
    for (int col = 0; col < width; col += 10) {
        int step = p->num_steps <= width ? col : (int)(((int64_t)col * p->num_steps + width - 1) / width);
        char num[16];
        int n = snprintf(num, sizeof num, "%d", step);
        if (col + n <= width)
            memcpy(axis + col, num, (size_t)n);
    }
    for (int end = width; end > 0 && axis[end - 1] == ' '; end--)
        axis[end - 1] = '\0';
    printf("  %-*s %9s %9s  %s\n", KN_CHART_NAME, "buffer", "size", "offset", axis);
    int peak_col = kn_mem_col(peak, p->num_steps, width);
    for (int i = 0; i < p->num_buffers; i++) {
        const kn_memory_buffer *buf = &p->buffers[i];
        char name[KN_CHART_NAME + 1];
        size_t len = strlen(buf->name);
        /* PyTorch's exporter names every tensor "..._output_0": drop that */
        static const char suffix[] = "_output_0";
        if (len > sizeof suffix - 1 && strcmp(buf->name + len - (sizeof suffix - 1), suffix) == 0)
            len -= sizeof suffix - 1;
        if (len > KN_CHART_NAME) {
            /* keep the end, where the distinguishing part of generated names is */
            name[0] = '~';
            memcpy(name + 1, buf->name + len - (KN_CHART_NAME - 1), KN_CHART_NAME - 1);
            name[KN_CHART_NAME] = '\0';
        } else {
            memcpy(name, buf->name, len);
            name[len] = '\0';
        }
        char bar[KN_CHART_WIDTH + 1];
        memset(bar, ' ', (size_t)width);
        bar[width] = '\0';
        int c0 = kn_mem_col(buf->first, p->num_steps, width), c1 = kn_mem_col(buf->last, p->num_steps, width);
        for (int col = c0; col <= c1 && col < width; col++)
            bar[col] = '#';
        if (buf->reuses >= 0)
            bar[c0] = '=';
        if (bar[peak_col] == ' ')
            bar[peak_col] = '!';
        /* trailing blanks are noise */
        int end = width;
        while (end > 0 && bar[end - 1] == ' ')
            end--;
        bar[end] = '\0';
        printf("  %-*s %9s %9s  %s\n", KN_CHART_NAME, name, kn_cli_bytes(buf->size, b, sizeof b),
               kn_cli_bytes(buf->offset, c, sizeof c), bar);
    }
}

/* The first buffer of the in-place chain `i` belongs to (a chain shares one colour). */
static int kn_mem_chain_root(const kn_memory_plan *p, int i)
{
    for (int n = 0; n <= p->num_buffers && p->buffers[i].reuses >= 0; n++)
        i = p->buffers[i].reuses;
    return i;
}

int kn_cli_write_memory_svg(const kn_memory_plan *p, const char *model, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return kn_cli_fail("cannot write '%s': %s", path, strerror(errno));
    const double left = 90, top = 70, pw = 1000, ph = 560, right = 30, bottom = 60;
    const double width = left + pw + right, height = top + ph + bottom;
    const int steps = p->num_steps > 0 ? p->num_steps : 1;
    const double arena = p->arena_bytes > 0 ? (double)p->arena_bytes : 1.0;
    const double sx = pw / steps, sy = ph / arena;
    char a[32], b[32], c[32];
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height, width, height);
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"16\" font-weight=\"bold\">memory plan of ", left);
    kn_xml_text(f, model);
    fprintf(f, " at batch %lld</text>\n", (long long)p->batch);
    fprintf(f,
            "<text x=\"%.0f\" y=\"46\">arena %s, lower bound %s, naive sum %s, efficiency %.1f%% "
            "(%d buffers, %d steps, %s)</text>\n",
            left, kn_cli_bytes(p->arena_bytes, a, sizeof a), kn_cli_bytes(p->bound_bytes, b, sizeof b),
            kn_cli_bytes(p->naive_bytes, c, sizeof c),
            p->arena_bytes ? 100.0 * (double)p->bound_bytes / (double)p->arena_bytes : 100.0, p->num_buffers,
            p->num_steps, p->strategy ? p->strategy : "");
    /* frame and axes */
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f6f6f6\" stroke=\"#888\"/>\n",
            left, top, pw, ph);
    for (int t = 0; t <= 10; t++) {
        double y = top + ph - ph * t / 10.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", left - 5, y, left,
                y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", left - 8, y + 4,
                kn_cli_bytes((size_t)(arena * t / 10.0), a, sizeof a));
    }
    int tick = 1;
    while (steps / tick > 20)
        tick = tick == 1 ? 2 : tick == 2 ? 5 : tick * 2;
    for (int s = 0; s <= steps; s += tick) {
        double x = left + s * sx;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", x, top + ph, x,
                top + ph + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", x, top + ph + 18, s);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step (node in run order)</text>\n",
            left + pw / 2, top + ph + 40);
    fprintf(f,
            "<text transform=\"translate(18,%.1f) rotate(-90)\" text-anchor=\"middle\">arena offset</text>\n",
            top + ph / 2);
    /* one rectangle per buffer: x = lifetime, y = bytes */
    for (int i = 0; i < p->num_buffers; i++) {
        const kn_memory_buffer *buf = &p->buffers[i];
        if (buf->size == 0)
            continue;
        int root = kn_mem_chain_root(p, i);
        unsigned hue = (unsigned)(root * 137) % 360;
        double x = left + buf->first * sx, w = (buf->last - buf->first + 1) * sx;
        double h = (double)buf->size * sy, y = top + ph - ((double)buf->offset + (double)buf->size) * sy;
        fprintf(f,
                "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"hsl(%u,65%%,%d%%)\" "
                "stroke=\"#333\" stroke-width=\"0.4\"><title>",
                x, y, w, h > 0.3 ? h : 0.3, hue, buf->reuses >= 0 ? 72 : 60);
        kn_xml_text(f, buf->name);
        fprintf(f, ": %s at offset %s, steps %d-%d", kn_cli_bytes(buf->size, a, sizeof a),
                kn_cli_bytes(buf->offset, b, sizeof b), buf->first, buf->last);
        if (buf->reuses >= 0) {
            fputs(", written over ", f);
            kn_xml_text(f, p->buffers[buf->reuses].name);
        }
        fputs("</title></rect>\n", f);
    }
    /* the lower bound */
    double yb = top + ph - (double)p->bound_bytes * sy;
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.2f\" x2=\"%.1f\" y2=\"%.2f\" stroke=\"#c00\" stroke-width=\"1.5\" "
            "stroke-dasharray=\"6,4\"/>\n"
            "<text x=\"%.1f\" y=\"%.2f\" fill=\"#c00\" text-anchor=\"end\">lower bound</text>\n",
            left, yb, left + pw, yb, left + pw - 4, yb - 4 > top + 12 ? yb - 4 : yb + 14);
    fputs("</svg>\n", f);
    if (ferror(f) | (fclose(f) != 0))
        return kn_cli_fail("cannot write '%s': %s", path, strerror(errno));
    return KN_CLI_OK;
}
