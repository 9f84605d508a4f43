"""`mailrep ship`: a mail server's log turned into volume batches for a mailrep instance.

    logs      pure: Postfix / Exim log lines -> accepted messages (queue id, client IP, time)
    shipper   the files (position, rotation), the remembered queue ids, the POST of batches
"""
