/* /* nested */ DELETE FROM t */ SELECT 1 -- ; DROP TABLE t
