// PgwardenJdbcCheck: pgjdbc (Debian's libpostgresql-jdbc-java) against one
// PostgreSQL endpoint, pgwarden or the server itself. tests/integration/
// test_pgjdbc.py compiles it, runs it against both and compares the JSON it
// prints on stdout. Backend pids are printed separately ("pids") because they
// differ by nature; everything else must be equal.
//
// Usage: CHECK_PASSWORD=... java -cp DIR:/usr/share/java/postgresql.jar \
//            PgwardenJdbcCheck URL USER THREADS ROUNDS TAG
// where URL is jdbc:postgresql://host:port/db?prepareThreshold=5 and TAG goes
// into a comment of the repeated statement, so the test can find its
// executions in the server's statement log.
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.postgresql.PGStatement;

public final class PgwardenJdbcCheck {
  // Every wait is bounded: a thread that does not reach the barrier within
  // this many seconds fails the run instead of hanging it.
  static final int WAIT_SECONDS = 60;

  static String url;
  static String user;
  static String password;
  static String tag;

  public static void main(String[] args) throws Exception {
    url = args[0];
    user = args[1];
    password = System.getenv("CHECK_PASSWORD");
    int threads = Integer.parseInt(args[2]);
    int rounds = Integer.parseInt(args[3]);
    tag = args[4];
    DriverManager.setLoginTimeout(10);

    Map<String, Object> out = new TreeMap<>();
    // All threads run each round together, so more clients than pgwarden has
    // server connections want a server at the same moment.
    CyclicBarrier barrier = new CyclicBarrier(threads);
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    List<Future<Map<String, Object>>> futures = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      final int id = t;
      futures.add(pool.submit(() -> worker(id, rounds, barrier)));
    }
    List<Object> results = new ArrayList<>();
    List<Object> pids = new ArrayList<>();
    for (Future<Map<String, Object>> f : futures) {
      Map<String, Object> r = f.get(WAIT_SECONDS * (rounds + 5L), TimeUnit.SECONDS);
      pids.add(r.remove("pids"));
      results.add(r);
    }
    pool.shutdown();
    out.put("threads", results);
    out.put("pids", pids);
    out.put("metadata", metadata());
    System.out.println(toJson(out));
  }

  static Connection connect() throws SQLException {
    return DriverManager.getConnection(url, user, password);
  }

  static Map<String, Object> worker(int id, int rounds, CyclicBarrier barrier) throws Exception {
    Map<String, Object> r = new TreeMap<>();
    List<Object> pids = new ArrayList<>();
    try (Connection conn = connect()) {
      r.put("validAtStart", conn.isValid(5));

      // One PreparedStatement run every round: from the 5th execution
      // (prepareThreshold) pgjdbc parses it once as a named statement (S_n)
      // and afterwards only binds and executes that name.
      List<Object> sums = new ArrayList<>();
      List<Object> serverPrepared = new ArrayList<>();
      try (PreparedStatement ps = conn.prepareStatement(
          "SELECT pg_backend_pid(), count(*), sum(principal) FROM loans"
              + " WHERE borrower_id <= ? /* pgjdbc-check " + tag + " */")) {
        for (int round = 0; round < rounds; round++) {
          barrier.await(WAIT_SECONDS, TimeUnit.SECONDS);
          ps.setInt(1, 1 + (id * 37 + round * 11) % 500);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            pids.add(rs.getInt(1));
            sums.add(rs.getLong(2) + ":" + rs.getBigDecimal(3).toPlainString());
          }
          serverPrepared.add(ps.unwrap(PGStatement.class).isUseServerPrepare());
        }
      }
      r.put("sums", sums);
      r.put("serverPrepared", serverPrepared);

      // A second statement with text and date parameters, past the threshold too.
      List<Object> rows = new ArrayList<>();
      try (PreparedStatement ps = conn.prepareStatement(
          "SELECT loan_id, status, originated_on, interest_rate FROM loans"
              + " WHERE status = ? AND originated_on >= ? ORDER BY loan_id LIMIT 3")) {
        String[] statuses = {"active", "paid_off", "defaulted"};
        for (int i = 0; i < 8; i++) {
          ps.setString(1, statuses[(id + i) % 3]);
          ps.setDate(2, Date.valueOf("2022-0" + (1 + i) + "-15"));
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
              rows.add(rs.getInt(1) + "|" + rs.getString(2) + "|" + rs.getDate(3) + "|"
                  + rs.getBigDecimal(4).toPlainString());
            }
          }
        }
      }
      r.put("rows", rows);

      // A transaction: every statement in it runs on one server connection.
      conn.setAutoCommit(false);
      List<Object> txPids = new ArrayList<>();
      long txCount = 0;
      try (Statement st = conn.createStatement()) {
        for (int i = 0; i < 3; i++) {
          try (ResultSet rs = st.executeQuery(
              "SELECT pg_backend_pid(), count(*) FROM payments WHERE loan_id <= " + (100 * (i + 1)))) {
            rs.next();
            txPids.add(rs.getInt(1));
            txCount += rs.getLong(2);
          }
        }
      }
      conn.commit();
      conn.setAutoCommit(true);
      r.put("transactionCount", txCount);
      r.put("transactionOnOneServer", txPids.stream().distinct().count() == 1);

      // A write is refused (pgwarden's guard, or the SELECT-only role when
      // direct) with 42501, and the connection goes on working.
      try (Statement st = conn.createStatement()) {
        st.executeUpdate("DELETE FROM loans WHERE loan_id = -1");
        r.put("deleteState", "no error");
      } catch (SQLException e) {
        r.put("deleteState", e.getSQLState());
      }
      r.put("validAtEnd", conn.isValid(5));
      try (Statement st = conn.createStatement();
           ResultSet rs = st.executeQuery("SELECT count(*) FROM borrowers")) {
        rs.next();
        r.put("borrowersAfterRefusal", rs.getLong(1));
      }
    }
    r.put("pids", pids);
    return r;
  }

  /** One DatabaseMetaData call: its rows, or the error a user would see. */
  interface MetaCall {
    ResultSet call(DatabaseMetaData md) throws SQLException;
  }

  static Object rows(DatabaseMetaData md, MetaCall call, String... columns) {
    List<Object> rows = new ArrayList<>();
    try (ResultSet rs = call.call(md)) {
      while (rs.next()) {
        StringBuilder row = new StringBuilder();
        for (String c : columns) {
          if (row.length() > 0) row.append(" | ");
          row.append(rs.getString(c));
        }
        rows.add(row.toString());
      }
      return rows;
    } catch (SQLException e) {
      return "ERROR " + e.getSQLState() + ": " + e.getMessage();
    }
  }

  // DatabaseMetaData: pgjdbc answers these with its own catalog queries,
  // which pass pgwarden's guard like any other statement. Each call is
  // recorded on its own, so one refused call does not hide the others.
  static Map<String, Object> metadata() throws SQLException {
    Map<String, Object> m = new TreeMap<>();
    try (Connection conn = connect()) {
      DatabaseMetaData md = conn.getMetaData();
      m.put("getTables", rows(md, d -> d.getTables(null, "public", "%", new String[] {"TABLE"}),
          "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE", "REMARKS"));
      m.put("getColumns", rows(md, d -> d.getColumns(null, "public", "loans", "%"),
          "COLUMN_NAME", "TYPE_NAME", "COLUMN_SIZE", "DECIMAL_DIGITS", "IS_NULLABLE", "REMARKS"));
      m.put("getPrimaryKeys", rows(md, d -> d.getPrimaryKeys(null, "public", "loans"),
          "COLUMN_NAME", "KEY_SEQ", "PK_NAME"));
      m.put("getImportedKeys", rows(md, d -> d.getImportedKeys(null, "public", "payments"),
          "FKCOLUMN_NAME", "PKTABLE_NAME", "PKCOLUMN_NAME", "FK_NAME"));
      m.put("getExportedKeys", rows(md, d -> d.getExportedKeys(null, "public", "loans"),
          "FKTABLE_NAME", "FKCOLUMN_NAME", "PKCOLUMN_NAME", "FK_NAME"));
      m.put("getBestRowIdentifier", rows(md,
          d -> d.getBestRowIdentifier(null, "public", "loans", DatabaseMetaData.bestRowSession, true),
          "COLUMN_NAME", "TYPE_NAME", "SCOPE"));
      m.put("getTablePrivileges", rows(md, d -> d.getTablePrivileges(null, "public", "loans"),
          "GRANTEE", "PRIVILEGE", "IS_GRANTABLE"));
      m.put("getIndexInfo", rows(md, d -> d.getIndexInfo(null, "public", "loans", false, false),
          "INDEX_NAME", "NON_UNIQUE", "COLUMN_NAME", "ORDINAL_POSITION"));
      m.put("getSchemas", rows(md, d -> d.getSchemas(), "TABLE_SCHEM"));
      m.put("product", md.getDatabaseProductName() + " " + md.getDatabaseMajorVersion());
      m.put("valid", conn.isValid(5));
    }
    return m;
  }

  // Minimal JSON for maps, lists, strings, numbers and booleans.
  static String toJson(Object o) {
    if (o == null) return "null";
    if (o instanceof Boolean || o instanceof Number) return o.toString();
    if (o instanceof Map) {
      StringBuilder sb = new StringBuilder("{");
      for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
        if (sb.length() > 1) sb.append(',');
        sb.append(toJson(e.getKey().toString())).append(':').append(toJson(e.getValue()));
      }
      return sb.append('}').toString();
    }
    if (o instanceof List) {
      StringBuilder sb = new StringBuilder("[");
      for (Object item : (List<?>) o) {
        if (sb.length() > 1) sb.append(',');
        sb.append(toJson(item));
      }
      return sb.append(']').toString();
    }
    StringBuilder sb = new StringBuilder("\"");
    for (char c : o.toString().toCharArray()) {
      if (c == '"' || c == '\\') sb.append('\\').append(c);
      else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
      else sb.append(c);
    }
    return sb.append('"').toString();
  }
}
