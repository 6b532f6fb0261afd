/* lympho test helper, built static and copied into a test image: what an
 * intruder inside a container does to run a program unseen.
 *   exec_helper memfd PROGRAM ARG...   copy PROGRAM into a memfd and run
 *                                      it from there (no file on any disk)
 *   exec_helper trick PROGRAM ARG...   the main thread exits (pthread_exit)
 *                                      while another forks and runs PROGRAM
 *   exec_helper plant FILE             create FILE, then stay 30 s (long
 *                                      enough for a detector to read it)
 * Exits 0 when the program was started, 1 otherwise. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static char **args;

static int
memfd_run (void)
{
  int in = open (args[0], O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return 1;
  int mfd = memfd_create ("payload", MFD_CLOEXEC);
  if (mfd < 0)
    return 1;
  char buf[65536];
  ssize_t n;
  while ((n = read (in, buf, sizeof buf)) > 0)
    if (write (mfd, buf, (size_t) n) != n)
      return 1;
  close (in);
  fexecve (mfd, args, environ);
  perror ("fexecve");
  return 1;
}

static void *
trick_thread (void *arg)
{
  (void) arg;
  /* Let the main thread go first: its leader is a zombie by the time the
   * child runs its program. */
  usleep (200 * 1000);
  pid_t c = fork ();
  if (c == 0)
    {
      execve (args[0], args, environ);
      _exit (127);
    }
  int st = 0;
  if (c > 0)
    waitpid (c, &st, 0);
  _exit (c > 0 ? 0 : 1);
  return NULL;
}

int
main (int argc, char **argv)
{
  if (argc < 3)
    {
      fprintf (stderr, "usage: exec_helper memfd|trick PROGRAM [ARG...] | plant FILE\n");
      return 2;
    }
  args = argv + 2;
  if (strcmp (argv[1], "plant") == 0)
    {
      int fd = open (argv[2], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0)
        return 1;
      close (fd);
      sleep (30);
      return 0;
    }
  if (strcmp (argv[1], "memfd") == 0)
    return memfd_run ();
  if (strcmp (argv[1], "trick") == 0)
    {
      pthread_t t;
      if (pthread_create (&t, NULL, trick_thread, NULL) != 0)
        return 1;
      pthread_exit (NULL);
    }
  return 2;
}
