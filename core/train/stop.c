/* core/train/stop.c - the one pending stop request of a training run (set
 * from a SIGINT/SIGTERM handler, read by the loops between steps). */
#include <ttml/train.h>

#include <signal.h>

static volatile sig_atomic_t stop_signo;

void ttml_train_request_stop(int signo)
{
    stop_signo = signo;
}

int ttml_train_stop_requested(void)
{
    return (int)stop_signo;
}
