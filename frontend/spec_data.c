/*
 * spec_data.c - what a train block's dataset needs on disk (spec.h): the
 * files each kind reads, checked before training compiles anything, and the
 * class folders of images(dir), listed when the spec is checked.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "spec_priv.h"

static bool kn_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool kn_is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

bool kn_spec_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

const char *kn_spec_images_split_dir(const char *dir, bool test, char *buf, size_t len)
{
    char train[2048];
    snprintf(train, sizeof train, "%s/train", dir);
    if (kn_is_dir(train))
        snprintf(buf, len, "%s/%s", dir, test ? "test" : "train");
    else
        snprintf(buf, len, "%s", dir);
    return buf;
}

/* The class folders of one split directory, each checked to hold a picture; false with a message. */
static bool kn_images_split_ok(const char *dir, char ***classes, int *count, char *msg, size_t len)
{
    kn_error err = {0};
    *classes = NULL;
    *count = 0;
    if (!kn_is_dir(dir)) {
        snprintf(msg, len, "directory %s does not exist (images(dir) reads one subfolder of PNG or JPEG files per "
                 "class)", dir);
        return false;
    }
    if (kn_dir_list(dir, true, classes, count, &err) != KN_OK) {
        snprintf(msg, len, "%s", err.message);
        return false;
    }
    if (*count == 0) {
        snprintf(msg, len, "%s has no class subfolders (images(dir) reads one per class, e.g. %s/cat/ and %s/dog/, "
                 "holding PNG or JPEG files)", dir, dir, dir);
        return false;
    }
    for (int c = 0; c < *count; c++) {
        char sub[4096], **files;
        int n, pictures = 0;
        snprintf(sub, sizeof sub, "%s/%s", dir, (*classes)[c]);
        if (kn_dir_list(sub, false, &files, &n, &err) != KN_OK) {
            snprintf(msg, len, "%s", err.message);
            return false;
        }
        for (int i = 0; i < n; i++)
            pictures += kn_spec_is_image_name(files[i]);
        kn_dir_list_free(files, n);
        if (pictures == 0) {
            snprintf(msg, len, "class folder %s holds no PNG or JPEG files (.png, .jpg, .jpeg)", sub);
            return false;
        }
    }
    return true;
}

/* Both splits of images(dir): with train/, test/ must have the same classes. The training split's classes kept. */
static bool kn_images_ok(const char *dir, char ***classes, int *count, char *msg, size_t len)
{
    char split[2048];
    if (!kn_images_split_ok(kn_spec_images_split_dir(dir, false, split, sizeof split), classes, count, msg, len))
        return false;
    if (strcmp(split, dir) == 0)
        return true;
    char **test;
    int ntest;
    bool ok = kn_images_split_ok(kn_spec_images_split_dir(dir, true, split, sizeof split), &test, &ntest, msg, len);
    if (ok && ntest != *count) {
        snprintf(msg, len, "%s/test has %d class folders but %s/train has %d; both need the same classes", dir, ntest,
                 dir, *count);
        ok = false;
    }
    for (int c = 0; ok && c < ntest; c++)
        if (strcmp(test[c], (*classes)[c]) != 0) {
            snprintf(msg, len, "%s/test has class folder '%s' where %s/train has '%s'; both need the same classes", dir,
                     test[c], dir, (*classes)[c]);
            ok = false;
        }
    kn_dir_list_free(test, ntest);
    return ok;
}

/* One file of an IDX, CIFAR-10 or .npy dataset (IDX files may be gzipped). */
static bool kn_spec_dataset_file_ok(const kn_spec_dataset *ds, const char *dir, const char *file, char *msg,
                                    size_t len)
{
    char path[4096], gz[4104];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(gz, sizeof gz, "%s.gz", path);
    if (!kn_is_file(path) && !(ds->kind == KN_SPEC_DATA_IDX && kn_is_file(gz))) {
        snprintf(msg, len, "dataset %s: %s has no %s%s", kn_spec_dataset_name(ds->kind), dir, file,
                 ds->kind == KN_SPEC_DATA_IDX ? " (or .gz)" : "");
        return false;
    }
    return true;
}

bool kn_spec_dataset_files_ok(const kn_spec_dataset *ds, const char *dir, bool both_splits, char *msg, size_t len)
{
    /* each kind's files: the training split's, then the test split's, each list ending in NULL */
    static const char *const idx[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", NULL,
                                      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", NULL};
    static const char *const cifar[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                        "data_batch_4.bin", "data_batch_5.bin", NULL, "test_batch.bin", NULL};
    static const char *const npy[] = {"x_train.npy", "y_train.npy", NULL, "x_test.npy", "y_test.npy", NULL};
    const char *const *files = ds->kind == KN_SPEC_DATA_IDX ? idx : ds->kind == KN_SPEC_DATA_CIFAR10 ? cifar
                               : ds->kind == KN_SPEC_DATA_NPY ? npy : NULL;
    if (ds->kind == KN_SPEC_DATA_SYNTHETIC)
        return true;
    if (ds->kind == KN_SPEC_DATA_IMAGES) {
        char **classes;
        int n;
        bool ok = kn_images_ok(dir, &classes, &n, msg, len);
        if (ok && n != ds->num_classes) {
            snprintf(msg, len, "%s has %d class folders, but the spec was checked with %lld classes", dir, n,
                     (long long)ds->num_classes);
            ok = false;
        }
        kn_dir_list_free(classes, n);
        return ok;
    }
    if (!kn_is_dir(dir)) {
        snprintf(msg, len, "dataset %s: directory %s does not exist", kn_spec_dataset_name(ds->kind), dir);
        return false;
    }
    const char *const *test = files;
    while (test && *test)
        test++;
    if (test)
        test++; /* the test split's list */
    for (int pass = 0; files && pass < 2; pass++) {
        if (pass == 1 && !both_splits)
            break;
        /* split=test trains on the test split */
        const char *const *need = (pass == 0) == ds->train_split ? files : test;
        for (int i = 0; need[i]; i++) {
            if (!kn_spec_dataset_file_ok(ds, dir, need[i], msg, len))
                return false;
        }
    }
    return true;
}


bool kn_spec_images_classes(kn_spec *spec, const kn_ast *dir_arg, const kn_ast *classes_arg, kn_spec_dataset *ds)
{
    char msg[1024], **classes;
    int n;
    if (!ds->dir)
        return false;
    if (!kn_images_ok(ds->dir, &classes, &n, msg, sizeof msg)) {
        kn_dir_list_free(classes, n);
        KN_SPEC_ERR(spec, KN_ERR_IO, dir_arg->loc, "dataset images: %s", msg);
        return false;
    }
    kn_dir_list_free(classes, n);
    if (classes_arg && ds->num_classes != n) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, classes_arg->loc, "classes=%lld, but %s has %d class folders",
                    (long long)ds->num_classes, ds->dir, n);
        return false;
    }
    ds->num_classes = n;
    return true;
}
