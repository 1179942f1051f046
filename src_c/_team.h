/* A team of helper threads for kernels that loop in C: the calling thread and
 * up to n - 1 helpers run tasks 0..n_tasks-1 of one job, each task taken once,
 * in any order, by whoever is free; the caller returns when all are done.
 *
 * Why not Python threads: a kernel called from a Python thread pool waits,
 * before each block, for a helper to be woken and to take the GIL; on a 2-core
 * VM that start costs 80-430 us, more than a whole E-step of 100 000 short
 * rows. Here helpers never touch Python: between jobs they spin for
 * GMMC_TEAM_SPIN_NS on the job counter (an EM loop's next E-step comes within
 * that), then sleep on a condition variable.
 *
 * Results must not depend on which thread ran a task: callers give each task
 * its own output and reduce them in task order.
 *
 * One job at a time: a caller that finds the team busy (another thread's
 * loop) runs its tasks alone, with the same results. After fork() the child
 * has none of the helpers; it starts new ones when it needs them. Without
 * POSIX threads (Windows) every job runs in the calling thread, and
 * gmmc_team_available() says so.
 */
#ifndef GMMC_TEAM_H
#define GMMC_TEAM_H

#include <stdint.h>

typedef void (*gmmc_task_fn)(void *ctx, int task);

#if defined(_WIN32) || !defined(__GNUC__)

static int gmmc_team_available(void) { return 0; }

static void gmmc_team_run(int n_threads, int n_tasks, gmmc_task_fn fn, void *ctx)
{
    (void)n_threads;
    for (int task = 0; task < n_tasks; task++)
        fn(ctx, task);
}

#else

#include <pthread.h>
#include <sched.h>
#include <time.h>
#if defined(__linux__)
#include <unistd.h>
#endif

#define GMMC_TEAM_MAX_HELPERS 255
#define GMMC_TEAM_SPIN_NS 2000000  /* 2 ms */

static struct {
    pthread_mutex_t lock;   /* guards sleeping, n_helpers and the wake-up */
    pthread_cond_t wake;
    pthread_mutex_t busy;   /* held by the caller of the job in flight */
    int n_helpers, sleeping, atfork_registered;
    /* The job: `ticket` is (job number << 32) | next task to hand out, so a
     * helper late from an earlier job can never take a task of this one. */
    uint64_t ticket;
    int n_tasks, n_wanted;  /* helpers 0..n_wanted-1 take part */
    gmmc_task_fn fn;
    void *ctx;
    int done;               /* tasks finished */
#if defined(__linux__)
    pthread_t threads[GMMC_TEAM_MAX_HELPERS];
    cpu_set_t allowed[GMMC_TEAM_MAX_HELPERS];  /* each helper's CPUs at its start */
#endif
} gmmc_team = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
               PTHREAD_MUTEX_INITIALIZER};

static int gmmc_team_available(void) { return 1; }

static inline void gmmc_team_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline int64_t gmmc_team_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Run the job's tasks until none is left to hand out, for job `job`. */
static void gmmc_team_work(uint32_t job)
{
    uint64_t ticket = __atomic_load_n(&gmmc_team.ticket, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((uint32_t)(ticket >> 32) != job
            || (uint32_t)ticket >= (uint32_t)__atomic_load_n(&gmmc_team.n_tasks,
                                                             __ATOMIC_RELAXED))
            return;
        if (!__atomic_compare_exchange_n(&gmmc_team.ticket, &ticket, ticket + 1, 0,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            continue;  /* ticket now holds the current value */
        /* A task of `job` is held: its caller waits for it, so fn and ctx
         * are this job's. */
        gmmc_team.fn(gmmc_team.ctx, (int)(uint32_t)ticket);
        __atomic_add_fetch(&gmmc_team.done, 1, __ATOMIC_RELEASE);
        ticket = __atomic_load_n(&gmmc_team.ticket, __ATOMIC_ACQUIRE);
    }
}

static void *gmmc_team_helper(void *arg)
{
    int id = (int)(intptr_t)arg;
#if defined(__linux__)
    pthread_setname_np(pthread_self(), "gmmc-team");  /* as top and ps show it */
#endif
    uint32_t seen = (uint32_t)(__atomic_load_n(&gmmc_team.ticket, __ATOMIC_ACQUIRE) >> 32);
    for (;;) {
        uint32_t job = seen;
        int64_t give_up = gmmc_team_now_ns() + GMMC_TEAM_SPIN_NS;
        for (int spins = 0; job == seen; spins++) {
            job = (uint32_t)(__atomic_load_n(&gmmc_team.ticket, __ATOMIC_ACQUIRE) >> 32);
            if (job != seen)
                break;
            gmmc_team_pause();
            if ((spins & 255) == 255 && gmmc_team_now_ns() > give_up) {
                pthread_mutex_lock(&gmmc_team.lock);
                while ((job = (uint32_t)(__atomic_load_n(&gmmc_team.ticket,
                                                         __ATOMIC_ACQUIRE) >> 32)) == seen) {
                    gmmc_team.sleeping++;
                    pthread_cond_wait(&gmmc_team.wake, &gmmc_team.lock);
                    gmmc_team.sleeping--;
                }
                pthread_mutex_unlock(&gmmc_team.lock);
            }
        }
        seen = job;
        if (id < __atomic_load_n(&gmmc_team.n_wanted, __ATOMIC_ACQUIRE))
            gmmc_team_work(job);
    }
    return NULL;
}

static void gmmc_team_after_fork_in_child(void)
{
    /* Only the forking thread exists in the child. */
    pthread_mutex_init(&gmmc_team.lock, NULL);
    pthread_cond_init(&gmmc_team.wake, NULL);
    pthread_mutex_init(&gmmc_team.busy, NULL);
    gmmc_team.n_helpers = 0;
    gmmc_team.sleeping = 0;
}

/* Start helpers up to n (under gmmc_team.lock); returns how many there are. */
static int gmmc_team_grow(int n)
{
    if (!gmmc_team.atfork_registered) {
        if (pthread_atfork(NULL, NULL, gmmc_team_after_fork_in_child) != 0)
            return gmmc_team.n_helpers;  /* a child could hang: no helpers */
        gmmc_team.atfork_registered = 1;
    }
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return gmmc_team.n_helpers;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 4 << 20);  /* the kernels' blocks live on the stack */
    while (gmmc_team.n_helpers < n && gmmc_team.n_helpers < GMMC_TEAM_MAX_HELPERS) {
        int id = gmmc_team.n_helpers;
        pthread_t thread;
        if (pthread_create(&thread, &attr, gmmc_team_helper, (void *)(intptr_t)id) != 0)
            break;
#if defined(__linux__)
        gmmc_team.threads[id] = thread;
        if (pthread_getaffinity_np(thread, sizeof(cpu_set_t), &gmmc_team.allowed[id]) != 0)
            CPU_ZERO(&gmmc_team.allowed[id]);
#endif
        gmmc_team.n_helpers++;
    }
    pthread_attr_destroy(&attr);
    return gmmc_team.n_helpers;
}

/* On virtual machines the scheduler may wake a sleeping helper on the CPU of
 * the thread that wakes it (a halted virtual CPU counts as busy): the two
 * then share one CPU. So, before waking them, helpers may run anywhere but
 * the caller's CPU (as gmmc._parallel does for its Python threads). */
static void gmmc_team_steer(int n)
{
#if defined(__linux__)
    int cpu = sched_getcpu();
    if (cpu < 0 || cpu >= CPU_SETSIZE)
        return;
    for (int id = 0; id < n; id++) {
        cpu_set_t set = gmmc_team.allowed[id];
        if (CPU_COUNT(&set) < 2 || !CPU_ISSET(cpu, &set))
            continue;
        CPU_CLR(cpu, &set);
        pthread_setaffinity_np(gmmc_team.threads[id], sizeof set, &set);
    }
#else
    (void)n;
#endif
}

static void gmmc_team_run(int n_threads, int n_tasks, gmmc_task_fn fn, void *ctx)
{
    int helpers = 0;
    if (n_threads > 1 && n_tasks > 1 && pthread_mutex_trylock(&gmmc_team.busy) == 0) {
        pthread_mutex_lock(&gmmc_team.lock);
        helpers = gmmc_team_grow(n_threads - 1);
        if (helpers > n_threads - 1)
            helpers = n_threads - 1;
        if (helpers == 0) {
            pthread_mutex_unlock(&gmmc_team.lock);
            pthread_mutex_unlock(&gmmc_team.busy);
        }
    }
    if (helpers == 0) {
        for (int task = 0; task < n_tasks; task++)
            fn(ctx, task);
        return;
    }
    /* Under gmmc_team.lock: publish the job, then wake the sleepers. */
    gmmc_team.fn = fn;
    gmmc_team.ctx = ctx;
    __atomic_store_n(&gmmc_team.n_tasks, n_tasks, __ATOMIC_RELAXED);
    __atomic_store_n(&gmmc_team.done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&gmmc_team.n_wanted, helpers, __ATOMIC_RELAXED);
    uint32_t job = (uint32_t)(__atomic_load_n(&gmmc_team.ticket, __ATOMIC_RELAXED) >> 32) + 1;
    __atomic_store_n(&gmmc_team.ticket, (uint64_t)job << 32, __ATOMIC_RELEASE);
    if (gmmc_team.sleeping) {
        gmmc_team_steer(helpers);
        pthread_cond_broadcast(&gmmc_team.wake);
    }
    pthread_mutex_unlock(&gmmc_team.lock);

    gmmc_team_work(job);
    /* Wait for the helpers' tasks; yield now and then, in case one of them
     * shares this CPU. */
    for (int spins = 1; __atomic_load_n(&gmmc_team.done, __ATOMIC_ACQUIRE) < n_tasks; spins++) {
        gmmc_team_pause();
        if ((spins & 63) == 0)
            sched_yield();
    }
    pthread_mutex_unlock(&gmmc_team.busy);
}

#endif
#endif
