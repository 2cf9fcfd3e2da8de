/* ttml-run - train a model described by a YAML config (thin: the work is
 * ttml_train_run in libttml).
 *
 *   ttml-run [train] CONFIG.yaml [--plugin-path DIR[:DIR]] [--plugin FILE]
 *            [--device NAME] [--seed N] [--max-steps N] [--metrics FILE] [--quiet]
 *            [--data FILE] [--resume [FILE]] [--overwrite] [--allow-nonfinite]
 *            [--trace FILE] [--profile-csv FILE] [--report FILE.html] [--memory-report]
 *   ttml-run CONFIG.yaml --check   (check every training key; no plugin, device or training)
 *   ttml-run generate --checkpoint FILE [--prompt TEXT] [--max-tokens N]
 *            [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R]
 *            [--seed S] [--greedy] [--allow-nonfinite] [--device NAME] [--plugin-path DIR]
 *            [--plugin FILE]
 *
 * Exit status: 0 on success, 1 on any error (one line "ttml-run: ..." on
 * stderr), 2 on a usage error, 130 / 143 after a first SIGINT / SIGTERM
 * (the step is finished and a checkpoint written); a second signal exits at
 * once. "train" is the default subcommand.
 */
#include <ttml/ttml.h>
#include <ttml/profiler_outputs.h>
#include <ttml/distributed.h>

#include "common/plugin_options.h"

#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The first SIGINT/SIGTERM asks the training loop to stop after its step;
 * a second one exits at once. */
static volatile sig_atomic_t got_signal;

static void on_stop_signal(int signo)
{
    if (got_signal) {
        static const char msg[] = "\nttml-run: second signal: exiting now (no checkpoint)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(128 + signo);
    }
    got_signal = signo;
    ttml_train_request_stop(signo);
    static const char msg[] = "\nttml-run: stopping after the current step (a language model "
                              "then writes its checkpoint); send the signal again to quit at once\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
}

static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "ttml-run: %s (try 'ttml-run --help')\n", msg);
    return 2;
}

/* Print *err as one "ttml-run: ..." line on stderr (newlines in nested
 * messages become spaces), clear it and return the exit status 1. */
static int print_error(GError **err)
{
    char *msg = g_strdup((*err)->message);
    g_strdelimit(msg, "\n", ' ');
    fprintf(stderr, "ttml-run: %s\n", msg);
    g_free(msg);
    g_clear_error(err);
    return 1;
}

/* ttml-run train's command line. */
typedef struct {
    ttml_tool_plugin_options plugins;
    char **rest;
    char *device, *metrics, *data, *resume_file;
    char *trace, *profile_csv, *report;
    gint64 seed, max_steps;
    gboolean quiet, resume, memory_report, overwrite, allow_nonfinite, check;
} train_args;

static void train_args_clear(train_args *a)
{
    ttml_tool_plugin_options_clear(&a->plugins);
    g_strfreev(a->rest);
    g_free(a->device);
    g_free(a->metrics);
    g_free(a->data);
    g_free(a->resume_file);
    g_free(a->trace);
    g_free(a->profile_csv);
    g_free(a->report);
}

/* "--resume" takes an optional FILE: "--resume=FILE", or "--resume FILE"
 * when FILE is not the config (*.yaml / *.yml) and not an option. Sets
 * a->resume(_file) and returns the other arguments (argv[0] first;
 * NULL-terminated; the strings are argv's). */
static GPtrArray *take_resume(int argc, char **argv, train_args *a)
{
    GPtrArray *args = g_ptr_array_new();
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--resume") == 0) {
            a->resume = TRUE;
            const char *next = i + 1 < argc ? argv[i + 1] : NULL;
            if (next && next[0] != '-' && !g_str_has_suffix(next, ".yaml") &&
                !g_str_has_suffix(next, ".yml")) {
                g_free(a->resume_file);
                a->resume_file = g_strdup(next);
                i++;
            }
            continue;
        }
        if (i > 0 && g_str_has_prefix(argv[i], "--resume=")) {
            a->resume = TRUE;
            g_free(a->resume_file);
            a->resume_file = g_strdup(argv[i] + strlen("--resume="));
            continue;
        }
        g_ptr_array_add(args, argv[i]);
    }
    g_ptr_array_add(args, NULL);
    return args;
}

static GOptionContext *train_context_new(train_args *a)
{
    GOptionEntry entries[] = {
        {"device", 0, 0, G_OPTION_ARG_STRING, &a->device,
         "Device to train on (default: device_config.device, else cpu)", "NAME"},
        {"seed", 0, 0, G_OPTION_ARG_INT64, &a->seed, "Override training_config.seed", "N"},
        {"max-steps", 0, 0, G_OPTION_ARG_INT64, &a->max_steps,
         "Stop after N steps (overrides training_config.max_steps; 0 = no limit)", "N"},
        {"metrics", 0, 0, G_OPTION_ARG_FILENAME, &a->metrics,
         "Write JSON Lines metrics (one object per logged step, then a summary) to FILE", "FILE"},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &a->quiet, "Do not print the per-epoch loss lines",
         NULL},
        {"data", 0, 0, G_OPTION_ARG_FILENAME, &a->data,
         "Train a language model on this text file (overrides data_config.path)", "FILE"},
        {"resume", 0, 0, G_OPTION_ARG_NONE, &a->resume,
         "Continue from a training-state checkpoint: --resume (training_config.model_path) or "
         "--resume FILE", NULL},
        {"overwrite", 0, 0, G_OPTION_ARG_NONE, &a->overwrite,
         "Let a fresh run replace an existing checkpoint at training_config.model_path", NULL},
        {"allow-nonfinite", 0, 0, G_OPTION_ARG_NONE, &a->allow_nonfinite,
         "With --resume: load a checkpoint holding NaN/Inf parameters anyway (a warning per tensor "
         "instead of the error)", NULL},
        {"trace", 0, 0, G_OPTION_ARG_FILENAME, &a->trace,
         "Profile the run and write a Chrome trace-event JSON file (Perfetto, chrome://tracing)", "FILE"},
        {"profile-csv", 0, 0, G_OPTION_ARG_FILENAME, &a->profile_csv,
         "Profile the run and write the per-kernel / per-op summary as CSV", "FILE"},
        {"report", 0, 0, G_OPTION_ARG_FILENAME, &a->report,
         "Profile the run and write a self-contained HTML report (loss curves, step time, "
         "profile, memory)", "FILE.html"},
        {"check", 0, 0, G_OPTION_ARG_NONE, &a->check,
         "Check the config without training: every training, device, data and eval key and unknown "
         "keys (model, optimizer and scheduler keys are checked when built); exit 0 when valid", NULL},
        {"memory-report", 0, 0, G_OPTION_ARG_NONE, &a->memory_report,
         "Print memory snapshots after the forward, backward and optimizer of the first step", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->rest, NULL, "CONFIG.yaml"},
        G_OPTION_ENTRY_NULL,
    };
    g_set_prgname("ttml-run [train]");
    GOptionContext *ctx = g_option_context_new("- train a model from a YAML config");
    g_option_context_set_summary(
        ctx, "Commands:\n"
             "  ttml-run [train] CONFIG.yaml [OPTION...]         train (the default command)\n"
             "  ttml-run generate --checkpoint FILE [OPTION...]  generate text from a checkpoint\n"
             "                                                   (see 'ttml-run generate --help')\n"
             "\n"
             "Trains the model described by CONFIG.yaml (training_config, device_config,\n"
             "data_config, eval_config sections; see configs/*.yaml and ttml/train.h).");
    g_option_context_set_description(
        ctx, "Plugins are searched in --plugin-path, then TTML_PLUGIN_PATH, then beside libttml.\n"
             "Profiling: --device profiler:DEVICE or TTML_LAYERS=profiler wraps the device in the\n"
             "profiler layer (a summary is printed at the end); --trace, --profile-csv and --report\n"
             "imply it.\n"
             "Ctrl-C / SIGTERM: the step is finished, a checkpoint written and the resume\n"
             "command printed (exit 130 / 143); a second signal quits at once.\n"
             "Errors print one line and exit 1; usage errors exit 2.");
    ttml_tool_plugin_options_add(ctx, &a->plugins);
    g_option_context_add_main_entries(ctx, entries, NULL);   /* copies the entries */
    return ctx;
}

/* Exactly one config file and no negative counts; else a usage error (2). */
static int check_train_args(const train_args *a)
{
    guint n_rest = a->rest ? g_strv_length(a->rest) : 0;
    if (n_rest == 0) return usage_error("missing CONFIG.yaml");
    if (n_rest > 1) {
        char *msg = g_strdup_printf("unexpected argument '%s' after the config file", a->rest[1]);
        int status = usage_error(msg);
        g_free(msg);
        return status;
    }
    if (a->seed < -1 || a->max_steps < -1)
        return usage_error(a->seed < -1 ? "--seed must be >= 0" : "--max-steps must be >= 0");
    return 0;
}

/* Profiling outputs imply the profiler layer (TTML_LAYERS; a device that
 * names it already is not wrapped twice). Events are kept for --trace. */
static void configure_profiler(const train_args *a)
{
    if (a->trace || a->profile_csv || a->report) {
        const char *layers = g_getenv("TTML_LAYERS");
        char **names = g_strsplit(layers ? layers : "", ",", -1);
        gboolean listed = FALSE;
        for (char **n = names; *n; n++) listed |= strcmp(g_strstrip(*n), "profiler") == 0;
        g_strfreev(names);
        if (!listed) {
            char *v = layers && *layers ? g_strconcat(layers, ",profiler", NULL) : g_strdup("profiler");
            g_setenv("TTML_LAYERS", v, TRUE);
            g_free(v);
        }
    }
    ttml_profiler_options popts = {sizeof popts, a->trace != NULL, 0};
    ttml_profiler_configure(&popts);
}

/* --check: the config's readers without training; 0 and "CONFIG: ok", or 1
 * after one "ttml-run: ..." line. */
static int check_config(const train_args *a)
{
    GError *err = NULL;
    char *text = NULL;
    if (!g_file_get_contents(a->rest[0], &text, NULL, &err)) {
        g_prefix_error(&err, "cannot read '%s': ", a->rest[0]);
        return print_error(&err);
    }
    ttml_run_options opts = {.struct_size = sizeof opts, .config_path = a->rest[0], .resume = a->resume,
                             .data_path = a->data};
    gboolean ok = ttml_train_check_config(text, a->rest[0], &opts, &err);
    g_free(text);
    if (!ok) return print_error(&err);
    printf("%s: ok (every training, device, data and eval key read and checked; model, optimizer and "
           "scheduler keys are checked when a run builds them)\n", a->rest[0]);
    return 0;
}

/* Train, then write the profiler outputs asked for; 0, or 1 after one
 * "ttml-run: ..." line on stderr. */
static int train_and_report(train_args *a)
{
    GError *err = NULL;
    ttml_run_options opts = {
        .struct_size = sizeof opts,
        .config_path = a->rest[0],
        .device = a->device,
        .plugin_paths = ttml_tool_plugin_paths(&a->plugins),
        .plugin_files = ttml_tool_plugin_files(&a->plugins),
        .seed = a->seed,
        .max_steps = a->max_steps,
        .metrics_path = a->metrics,
        .quiet = a->quiet,
        .resume = a->resume,
        .resume_path = a->resume_file,
        .data_path = a->data,
        .memory_report = a->memory_report,
        .overwrite = a->overwrite,
        .allow_nonfinite = a->allow_nonfinite,
    };
    install_stop_handlers();
    gboolean trained = ttml_train_run(&opts, &err);
    if (trained) {
        /* The summary (when a profiler device was used) and the outputs asked for. */
        char *base = g_path_get_basename(a->rest[0]);
        char *title = g_strdup_printf("ttml-run %s", base);
        trained = ttml_profiler_write_outputs(stdout, a->trace, a->profile_csv, a->report, title, &err);
        g_free(title);
        g_free(base);
    }
    if (trained) return 0;
    int status = g_error_matches(err, TTML_ERROR, TTML_ERROR_INTERRUPTED) && got_signal ? 128 + got_signal : 1;
    print_error(&err);
    return status;
}

/* Under mpirun every rank writes its own outputs: rank r > 0 gets
 * STEM.rank<r>.EXT (ttml_dist_rank_path); rank 0 keeps the names given. */
static void rank_paths(train_args *a)
{
    char **paths[] = {&a->metrics, &a->trace, &a->profile_csv, &a->report};
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
        char *p = ttml_dist_rank_path(*paths[i]);
        g_free(*paths[i]);
        *paths[i] = p;
    }
}

static int cmd_train(int argc, char **argv)
{
    train_args a = {.seed = -1, .max_steps = -1};
    GPtrArray *args = take_resume(argc, argv, &a);
    int n = (int)args->len - 1;
    char **v = (char **)args->pdata;
    GOptionContext *ctx = train_context_new(&a);
    GError *err = NULL;
    int status;
    if (!g_option_context_parse(ctx, &n, &v, &err)) {
        status = usage_error(err->message);
        g_clear_error(&err);
    } else {
        status = check_train_args(&a);
        if (status == 0 && a.check) {
            status = check_config(&a);
        } else if (status == 0) {
            rank_paths(&a);
            configure_profiler(&a);
            status = train_and_report(&a);
        }
    }
    g_option_context_free(ctx);
    train_args_clear(&a);
    g_ptr_array_free(args, TRUE);
    return status;
}

/* A sampling option's value: unset (NULL) leaves *out NAN ("from the
 * checkpoint's eval_config"); "nan", "inf" or text is an error naming it. */
static gboolean finite_option(const char *name, const char *text, double *out, GError **error)
{
    *out = NAN;
    if (!text) return TRUE;
    char *end = NULL;
    double v = g_ascii_strtod(text, &end);
    if (!*text || *end || !isfinite(v)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "--%s must be a finite number, got '%s'", name, text);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static int cmd_generate(int argc, char **argv)
{
    char **rest = NULL;
    ttml_tool_plugin_options plugins = {0};
    char *device = NULL, *checkpoint = NULL, *prompt = NULL;
    gint64 max_tokens = -1, top_k = -1, seed = -1;
    double temperature = NAN, top_p = NAN, repetition_penalty = NAN;
    char *temperature_text = NULL, *top_p_text = NULL, *repetition_penalty_text = NULL;
    gboolean greedy = FALSE, allow_nonfinite = FALSE;
    GOptionEntry entries[] = {
        {"checkpoint", 'c', 0, G_OPTION_ARG_FILENAME, &checkpoint,
         "Training-state checkpoint written by ttml-run (training_config.model_path)", "FILE"},
        {"prompt", 'p', 0, G_OPTION_ARG_FILENAME, &prompt,
         "Text to continue (default: eval_config.prompt, else a newline)", "TEXT"},
        {"max-tokens", 'n', 0, G_OPTION_ARG_INT64, &max_tokens,
         "Tokens to generate (default: eval_config.max_tokens, else 200)", "N"},
        {"temperature", 0, 0, G_OPTION_ARG_STRING, &temperature_text,
         "Softmax temperature; 0 = greedy (default: eval_config, else 1.0)", "T"},
        {"top-k", 0, 0, G_OPTION_ARG_INT64, &top_k, "Keep the K most likely tokens (0 = off)", "K"},
        {"top-p", 0, 0, G_OPTION_ARG_STRING, &top_p_text,
         "Nucleus sampling: keep the most likely tokens up to probability P (1 = off)", "P"},
        {"repetition-penalty", 0, 0, G_OPTION_ARG_STRING, &repetition_penalty_text,
         "Penalise tokens already in the context (CTRL rule; 1 = off)", "R"},
        {"seed", 0, 0, G_OPTION_ARG_INT64, &seed,
         "Sampling seed (default: eval_config.seed, else the training seed)", "S"},
        {"greedy", 0, 0, G_OPTION_ARG_NONE, &greedy, "Always take the most likely token", NULL},
        {"allow-nonfinite", 0, 0, G_OPTION_ARG_NONE, &allow_nonfinite,
         "Load a checkpoint holding NaN/Inf parameters anyway (a warning per tensor; generation "
         "still stops on non-finite logits)", NULL},
        {"device", 0, 0, G_OPTION_ARG_STRING, &device, "Device (default cpu)", "NAME"},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
        G_OPTION_ENTRY_NULL,
    };
    g_set_prgname("ttml-run generate");
    GOptionContext *ctx = g_option_context_new("--checkpoint FILE - generate text from a language-model checkpoint");
    g_option_context_set_summary(
        ctx, "Rebuilds the model stored in the checkpoint, feeds it the prompt and prints the\n"
             "prompt followed by the generated text (KV cache: one position per token).\n"
             "Sampling defaults come from the checkpoint config's eval_config; options win.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    ttml_tool_plugin_options_add(ctx, &plugins);
    GError *err = NULL;
    int status = 0;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        status = usage_error(err->message);
        g_clear_error(&err);
        goto out;
    }
    if (rest && rest[0]) {
        char *msg = g_strdup_printf("unexpected argument '%s'", rest[0]);
        status = usage_error(msg);
        g_free(msg);
        goto out;
    }
    if (!finite_option("temperature", temperature_text, &temperature, &err) ||
        !finite_option("top-p", top_p_text, &top_p, &err) ||
        !finite_option("repetition-penalty", repetition_penalty_text, &repetition_penalty, &err)) {
        status = usage_error(err->message);
        g_clear_error(&err);
        goto out;
    }
    if (!checkpoint) {
        status = usage_error("generate needs --checkpoint FILE");
        goto out;
    }
    if (max_tokens < -1 || top_k < -1 || seed < -1) {
        status = usage_error("--max-tokens, --top-k and --seed must be >= 0");
        goto out;
    }
    ttml_generate_options opts = {
        .struct_size = sizeof opts,
        .checkpoint_path = checkpoint,
        .prompt = prompt,
        .device = device,
        .plugin_paths = ttml_tool_plugin_paths(&plugins),
        .plugin_files = ttml_tool_plugin_files(&plugins),
        .max_tokens = max_tokens,
        .temperature = temperature,
        .top_k = top_k,
        .top_p = top_p,
        .repetition_penalty = repetition_penalty,
        .seed = seed,
        .greedy = greedy,
        .allow_nonfinite = allow_nonfinite,
    };
    if (!ttml_generate_run(&opts, &err)) status = print_error(&err);
out:
    g_option_context_free(ctx);
    g_free(temperature_text);
    g_free(top_p_text);
    g_free(repetition_penalty_text);
    ttml_tool_plugin_options_clear(&plugins);
    g_strfreev(rest);
    g_free(device);
    g_free(checkpoint);
    g_free(prompt);
    return status;
}

int main(int argc, char **argv)
{
    /* The user's locale: GLib converts messages and arguments with it. */
    setlocale(LC_ALL, "");
    /* Subcommands: "train" (the default) and "generate". */
    if (argc > 1 && strcmp(argv[1], "generate") == 0) {
        argv[1] = argv[0];
        return cmd_generate(argc - 1, argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "consolidate") == 0) {
        if (argc != 4) return usage_error("consolidate needs IN OUT: ttml-run consolidate CHECKPOINT OUT.safetensors");
        GError *err = NULL;
        return ttml_consolidate_run(argv[2], argv[3], &err) ? 0 : print_error(&err);
    }
    if (argc > 1 && strcmp(argv[1], "train") == 0) {
        argv[1] = argv[0];
        return cmd_train(argc - 1, argv + 1);
    }
    return cmd_train(argc, argv);
}
