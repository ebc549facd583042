package pagecast;

import java.util.Arrays;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

/**
 * Checks of the Apache Kafka Java client (producer, consumer, admin) against a broker,
 * run by pagecast's tests against the real Kafka and against pagecast with the same
 * arguments.
 *
 * <p>Usage: {@code Checks producer|consumer|admin|sessions BOOTSTRAP}. Every observation is a line
 * {@code same NAME: VALUE}: the test asserts that pagecast prints exactly the lines Kafka
 * prints. A line {@code fail NAME: WHY} is an expectation of the check itself that did not
 * hold (the test fails on any). A line {@code info ...} is for people reading the log.
 * Topics and groups are named by the check, so every run needs a fresh broker, with
 * topic auto-creation off.
 */
public final class Checks {
  private Checks() {}

  static int failures = 0;

  /** An observation that must be the same on every broker. */
  static synchronized void same(String name, Object value) {
    System.out.println("same " + name + ": " + value);
    System.out.flush();
  }

  /** An expectation that did not hold. */
  static synchronized void fail(String name, Object why) {
    failures++;
    System.out.println("fail " + name + ": " + why);
    System.out.flush();
  }

  static synchronized void info(String what) {
    System.out.println("info " + what);
    System.out.flush();
  }

  /** Checks an expectation; prints the observation either way. */
  static void expect(String name, Object got, Object want) {
    same(name, got);
    if (!String.valueOf(got).equals(String.valueOf(want))) {
      fail(name, "got " + got + ", want " + want);
    }
  }

  /** The simple class name of what an operation threw (the cause of an ExecutionException). */
  static String thrown(Throwable t) {
    while ((t instanceof ExecutionException || t instanceof java.util.concurrent.CompletionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t.getClass().getSimpleName();
  }

  static Properties props(String bootstrap, String... kv) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    for (int i = 0; i + 1 < kv.length; i += 2) {
      p.put(kv[i], kv[i + 1]);
    }
    return p;
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: Checks producer|consumer|admin|sessions BOOTSTRAP");
      System.exit(2);
    }
    String bootstrap = args[1];
    switch (args[0]) {
      case "producer":
        ProducerChecks.run(bootstrap);
        break;
      case "consumer":
        ConsumerChecks.run(bootstrap);
        break;
      case "admin":
        AdminChecks.run(bootstrap);
        break;
      case "sessions":
        SessionChecks.run(bootstrap);
        break;
      default:
        System.err.println("unknown check " + args[0] + "; one of " + Arrays.asList("producer", "consumer", "admin", "sessions"));
        System.exit(2);
    }
    info("done, " + failures + " failures");
    System.exit(failures == 0 ? 0 : 1);
  }
}
