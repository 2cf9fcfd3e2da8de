/* ttml-run - train a model described by a YAML config (thin: the work is
 * ttml_train_run in libttml).
 *
 *   ttml-run [train] CONFIG.yaml [--plugin-path DIR[:DIR]] [--plugin FILE]
 *            [--device NAME] [--seed N] [--max-steps N] [--metrics FILE] [--quiet]
 *
 * Exit status: 0 on success, 1 on any error (one line "ttml-run: ..." on
 * stderr), 2 on a usage error. "train" is the default subcommand; others
 * ("generate", ...) will come.
 */
#include <ttml/ttml.h>

#include <stdio.h>
#include <string.h>

static int usage_error(const char *msg)
{
    fprintf(stderr, "ttml-run: %s (try 'ttml-run --help')\n", msg);
    return 2;
}

/* Split every "A:B" entry on ':' into one NULL-terminated list (empty parts dropped). */
static char **split_paths(char **entries)
{
    GPtrArray *out = g_ptr_array_new();
    for (char **e = entries; e && *e; e++) {
        char **parts = g_strsplit(*e, ":", -1);
        for (char **p = parts; *p; p++)
            if (**p) g_ptr_array_add(out, g_strdup(*p));
        g_strfreev(parts);
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

static int cmd_train(int argc, char **argv)
{
    char **plugin_paths = NULL, **plugin_files = NULL, **rest = NULL;
    char *device = NULL, *metrics = NULL;
    gint64 seed = -1, max_steps = -1;
    gboolean quiet = FALSE;
    GOptionEntry entries[] = {
        {"plugin-path", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &plugin_paths,
         "Search DIR (a ':'-separated list; repeatable) for plugins first", "DIR[:DIR]"},
        {"plugin", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &plugin_files,
         "Load this plugin file (repeatable)", "FILE"},
        {"device", 0, 0, G_OPTION_ARG_STRING, &device,
         "Device to train on (default: device_config.device, else cpu)", "NAME"},
        {"seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Override training_config.seed", "N"},
        {"max-steps", 0, 0, G_OPTION_ARG_INT64, &max_steps,
         "Stop after N steps (overrides training_config.max_steps; 0 = no limit)", "N"},
        {"metrics", 0, 0, G_OPTION_ARG_FILENAME, &metrics,
         "Write JSON Lines metrics (one object per logged step, then a summary) to FILE", "FILE"},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Do not print the per-epoch loss lines",
         NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, "CONFIG.yaml"},
        G_OPTION_ENTRY_NULL,
    };
    GOptionContext *ctx = g_option_context_new("[train] CONFIG.yaml - train a model from a YAML config");
    g_option_context_set_summary(
        ctx, "Trains the model described by CONFIG.yaml (training_config, device_config,\n"
             "data_config, eval_config sections; see configs/*.yaml and ttml/train.h).");
    g_option_context_set_description(
        ctx, "Plugins are searched in --plugin-path, then TTML_PLUGIN_PATH, then beside libttml.\n"
             "Errors print one line and exit 1; usage errors exit 2.");
    g_option_context_add_main_entries(ctx, entries, NULL);

    GError *err = NULL;
    int status = 0;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        status = usage_error(err->message);
        g_clear_error(&err);
        goto out;
    }
    guint n_rest = rest ? g_strv_length(rest) : 0;
    if (n_rest == 0) {
        status = usage_error("missing CONFIG.yaml");
        goto out;
    }
    if (n_rest > 1) {
        char *msg = g_strdup_printf("unexpected argument '%s' after the config file", rest[1]);
        status = usage_error(msg);
        g_free(msg);
        goto out;
    }
    if (seed < -1 || max_steps < -1) {
        status = usage_error(seed < -1 ? "--seed must be >= 0" : "--max-steps must be >= 0");
        goto out;
    }

    char **paths = split_paths(plugin_paths);
    ttml_run_options opts = {
        .struct_size = sizeof opts,
        .config_path = rest[0],
        .device = device,
        .plugin_paths = (const char *const *)paths,
        .plugin_files = (const char *const *)plugin_files,
        .seed = seed,
        .max_steps = max_steps,
        .metrics_path = metrics,
        .quiet = quiet,
    };
    if (!ttml_train_run(&opts, &err)) {
        /* One line: newlines in nested messages become spaces. */
        char *msg = g_strdup(err->message);
        g_strdelimit(msg, "\n", ' ');
        fprintf(stderr, "ttml-run: %s\n", msg);
        g_free(msg);
        g_clear_error(&err);
        status = 1;
    }
    g_strfreev(paths);

out:
    g_option_context_free(ctx);
    g_strfreev(plugin_paths);
    g_strfreev(plugin_files);
    g_strfreev(rest);
    g_free(device);
    g_free(metrics);
    return status;
}

int main(int argc, char **argv)
{
    /* Subcommands: "train" (the default). */
    if (argc > 1 && strcmp(argv[1], "train") == 0) {
        argv[1] = argv[0];
        return cmd_train(argc - 1, argv + 1);
    }
    return cmd_train(argc, argv);
}
